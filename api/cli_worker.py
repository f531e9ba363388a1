"""`loyalty worker` (the outbox consumers, the audience stream and journeys,
until stopped) and `loyalty jobs` (the scheduled jobs once, for cron)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from api.cli_run import _run, _with_db, log
from loyalty.platform.config import get_settings


def cmd_worker(args: argparse.Namespace) -> int:
    import signal

    from api.logs import configure
    from audience.jobs import JOBS as AUDIENCE_JOBS
    from audience.worker import run_forever as audience_loop
    from geofence.jobs import JOBS as GEOFENCE_JOBS
    from journeys.worker import run_forever as journeys_loop
    from notifications.backlog import SAMPLE_SECONDS as BACKLOG_SAMPLE_SECONDS
    from notifications.loop import default_concurrency, run_forever
    from notifications.push import sender_from_settings
    from observability.metrics import multiprocess_dir

    configure(get_settings())

    async def go() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        sender = sender_from_settings(get_settings().firebase_credentials)
        if sender is None:
            log.warning("no FIREBASE_CREDENTIALS: notifications go to the inbox and the log only")
        async with contextlib.AsyncExitStack() as endpoint:
            if args.metrics_port is not None:
                from api.worker_http import serving

                await endpoint.enter_async_context(
                    serving(get_settings(), args.metrics_host, args.metrics_port))
                log.info("worker metrics on http://%s:%s/metrics (/healthz, /readyz)",
                         args.metrics_host, args.metrics_port)
            log.info("worker running; stop with SIGTERM or Ctrl-C")
            try:
                # The audience loop (the stream from the outbox, segment
                # updates) and the journeys loop (entries, wake-ups, due
                # runs) run beside the notification passes and stop with them.
                await asyncio.gather(
                    run_forever(stop, batch_size=args.batch_size, sender=sender,
                                jobs={**GEOFENCE_JOBS, **AUDIENCE_JOBS},
                                concurrency=args.concurrency
                                or default_concurrency(get_settings().database_url),
                                # Shared with other processes' files, the
                                # backlog is written on a timer too.
                                sample_every=BACKLOG_SAMPLE_SECONDS
                                if multiprocess_dir() else None),
                    audience_loop(stop),
                    journeys_loop(stop),
                )
            finally:
                if sender is not None:
                    await sender.close()
        log.info("worker stopped")
        return 0

    return _run(lambda: _with_db(go))


def cmd_jobs(_: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from api.logs import configure
    from audience.jobs import JOBS as AUDIENCE_JOBS
    from geofence.jobs import JOBS as GEOFENCE_JOBS
    from loyalty.jobs import JOBS
    from notifications.loop import run_jobs

    configure(get_settings())

    async def go() -> int:
        counts = await run_jobs(datetime.now(UTC), jobs={**GEOFENCE_JOBS, **AUDIENCE_JOBS})
        names = [*JOBS, *GEOFENCE_JOBS, *AUDIENCE_JOBS]
        for name in names:
            print(f"{name}: {counts.get(name, 'FAILED')}")
        # Non-zero for cron to report, once every job has had its turn.
        return 0 if len(counts) == len(names) else 1

    return _run(lambda: _with_db(go))


def add_parser(sub: argparse._SubParsersAction) -> None:
    worker = sub.add_parser("worker", help="run the consumers (messages, webhooks, the event "
                                           "stream, journeys) and jobs until stopped")
    worker.add_argument("--batch-size", type=int, default=100,
                        help="outbox events claimed, and notifications sent, per pass "
                        "(default 100)")
    worker.add_argument(
        "--concurrency", type=int, default=None,
        help="passes side by side: one claims and writes while another waits on FCM "
        "(default: 2 on PostgreSQL, 1 on SQLite)",
    )
    worker.add_argument(
        "--metrics-port", type=int, default=None,
        help="serve /metrics, /healthz and /readyz on this port (default: none)")
    worker.add_argument(
        "--metrics-host", default="127.0.0.1",
        help="address for --metrics-port (default 127.0.0.1; 0.0.0.0 for a scraper elsewhere)")
    worker.set_defaults(fn=cmd_worker)
    sub.add_parser(
        "jobs", help="run the scheduled jobs (expiry, reminders, tier reviews) once, for cron"
    ).set_defaults(fn=cmd_jobs)
