"""The worker's own HTTP endpoint (`loyalty worker --metrics-port P`): /metrics,
/healthz and /readyz, served in the worker's event loop beside its passes.

Ready means: the database answers, the migrations are applied, and the loop
has finished a pass since the process started (a worker stuck before its
first pass, on a lock or a bad credential, is not doing its job)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import probes
from api.metrics_auth import metrics_allowed, refused
from loyalty.platform.config import Settings
from notifications.backlog import sample_backlog
from notifications.loop import state
from observability import metrics
from observability.sampling import sample_pool


def _loop_ready() -> tuple[bool, dict[str, Any]]:
    ended = state.last_pass_ended
    if ended is None:
        return False, {"loop": "no pass finished yet"}
    return True, {"loop": "ok", "last_pass_seconds_ago": round(time.time() - ended, 1)}


def worker_app(settings: Settings) -> Starlette:
    async def metrics_endpoint(request: Request) -> Response:
        if not metrics_allowed(request, settings):
            return refused()
        sample_pool()
        # Read now, so that a scrape sees the backlog as it is (two index scans).
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sample_backlog(), probes.READY_TIMEOUT)
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    return Starlette(routes=[
        Route("/metrics", metrics_endpoint),
        Route("/healthz", probes.healthz),
        Route("/readyz", probes.readyz_endpoint(_loop_ready)),
    ])


@contextlib.asynccontextmanager
async def serving(settings: Settings, host: str, port: int) -> AsyncIterator[None]:
    """The endpoint for as long as the block runs (the worker's database is
    already open: the app has no lifespan of its own)."""
    config = uvicorn.Config(worker_app(settings), host=host, port=port, lifespan="off",
                            log_config=None, access_log=False)
    server = uvicorn.Server(config)
    # The worker handles SIGTERM itself: uvicorn must not take the signals over.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # the port is taken: fail now, loudly
                raise RuntimeError(f"the metrics endpoint did not start on {host}:{port}")
            await asyncio.sleep(0.02)
        yield
    finally:
        server.should_exit = True
        await task
