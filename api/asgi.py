"""`api.asgi:app` for uvicorn with several worker processes (migrations already run)."""

from api.app import create_app
from api.logs import configure
from loyalty.platform.config import get_settings

# Each worker process configures its own logging (uvicorn is told not to).
configure(get_settings())
app = create_app(migrate=False)
