"""`loyalty serve` as a real process, for the tests that need one: several
processes on one database, or what uvicorn itself does with a connection."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from tests.conftest import TEST_SECRET

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def loyalty_command() -> list[str]:
    script = Path(sys.executable).with_name("loyalty")
    if script.exists():
        return [str(script)]
    found = shutil.which("loyalty")
    return [found] if found else [sys.executable, "-m", "api.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    url: str
    process: asyncio.subprocess.Process
    log: IO[bytes]

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/graphql"

    def output(self, limit: int | None = 4000) -> str:
        """What the process wrote so far (its last `limit` characters)."""
        self.log.flush()
        self.log.seek(0)
        text = self.log.read().decode(errors="replace")
        return text if limit is None else text[-limit:]


def server_env(database_url: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "LOYALTY_ENV": "test",
            "LOYALTY_SECRET_KEY": TEST_SECRET, "LOYALTY_SCRYPT_LOG_N": "10"}


async def start(database_url: str, *args: str, **env: str) -> ServerProcess:
    """`loyalty serve` on a free port, with `args` after it and `env` added to
    the test settings."""
    port = free_port()
    full_env = {**os.environ, **server_env(database_url), "PYTHONUNBUFFERED": "1", **env}
    log = tempfile.TemporaryFile()
    try:
        process = await asyncio.create_subprocess_exec(
            *loyalty_command(), "serve", "--port", str(port), *args, env=full_env,
            stdout=log, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)
    except BaseException:
        log.close()
        raise
    return ServerProcess(f"http://127.0.0.1:{port}", process, log)


async def wait_healthy(server: ServerProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient(base_url=server.url, timeout=2.0) as http:
        while True:
            if server.process.returncode is not None:
                raise RuntimeError(f"`loyalty serve` exited with {server.process.returncode}:"
                                   f"\n{server.output()}")
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"`loyalty serve` not healthy after {START_TIMEOUT}s:\n"
                                   f"{server.output()}")
            await asyncio.sleep(0.1)


async def stop(server: ServerProcess) -> None:
    process = server.process
    try:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                process.kill()
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
    finally:
        server.log.close()
