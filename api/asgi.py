"""`api.asgi:app` for uvicorn with several worker processes (migrations already run)."""

from api.app import create_app

app = create_app(migrate=False)
