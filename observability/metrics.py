"""Every Prometheus metric of the project, declared once, here.

prometheus-client in multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set
(`loyalty serve --workers N` sets it to a fresh directory of its own unless the
environment names one): each process writes its values to memory-mapped files
there and a scrape of any process reads them all, so N workers answer as one.
Without it (one process), values live in the process.

Labels are bounded sets, never a client's text: the GraphQL `operation` is the
operation's root field as the schema names it (not the client's operation
name or alias), `(multiple)` for several, `(invalid)` for a document that does
not parse or validate; HTTP routes are the app's own paths or `other`.

Metrics of features still to come (email, SMS, journeys, segments) are
declared here too, so that they are incremented, not invented, when those land.
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds: a home screen answers in about a millisecond, a push batch in seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                300.0)

# --- HTTP and GraphQL (loyalty serve) -------------------------------------------------
HTTP_REQUESTS = Counter(
    "loyalty_http_requests", "HTTP requests answered, by route and status.",
    ["route", "status"])
HTTP_DURATION = Histogram(
    "loyalty_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route.",
    ["route"], buckets=LATENCY_BUCKETS)
GRAPHQL_OPERATIONS = Counter(
    "loyalty_graphql_operations",
    "GraphQL operations (HTTP and WebSocket) by root field and outcome: ok, error (a "
    "client's: refused, unauthenticated, invalid), internal (a bug).",
    ["operation", "outcome"])
GRAPHQL_DURATION = Histogram(
    "loyalty_graphql_operation_duration_seconds",
    "Time to parse, validate and execute a query or mutation, by root field.",
    ["operation"], buckets=LATENCY_BUCKETS)
GRAPHQL_ERRORS = Counter(
    "loyalty_graphql_errors", "Top-level errors returned, by extensions.code.", ["code"])
SUBSCRIBERS = Gauge(
    "loyalty_subscribers", "Live pointsChanged subscriptions.", multiprocess_mode="livesum")
UPTIME = Gauge(
    "loyalty_uptime_seconds", "Seconds since the oldest live process started.",
    multiprocess_mode="livemax")

# --- The database pool (every process) ------------------------------------------------
DB_POOL_SIZE = Gauge(
    "loyalty_db_pool_connections", "PostgreSQL connections open in the pool.",
    multiprocess_mode="livesum")
DB_POOL_IN_USE = Gauge(
    "loyalty_db_pool_in_use", "PostgreSQL pool connections taken by a request or a pass.",
    multiprocess_mode="livesum")
DB_POOL_WAITING = Gauge(
    "loyalty_db_pool_waiting", "Tasks waiting for a PostgreSQL pool connection.",
    multiprocess_mode="livesum")

# --- The worker (loyalty worker) ------------------------------------------------------
OUTBOX_DEPTH = Gauge(
    "loyalty_outbox_depth",
    "Items waiting, by consumer: `notifications` (outbox events not yet claimed), `push` "
    "(notifications due to be pushed).", ["consumer"], multiprocess_mode="mostrecent")
OUTBOX_LAG = Gauge(
    "loyalty_outbox_lag_seconds",
    "Age of the oldest item waiting, by consumer (0 when none waits).", ["consumer"],
    multiprocess_mode="mostrecent")
OUTBOX_EVENTS = Counter(
    "loyalty_outbox_events", "Outbox events claimed, by outcome: claimed, failed.", ["outcome"])
PUSHES = Counter(
    "loyalty_pushes",
    "Notifications by what became of them on a pass: sent, retried, failed, inbox_only "
    "(opt-out, no device, no credentials), deferred (quiet hours), capped (marketing cap), "
    "skipped (no marketing consent), suppressed (no channel could carry it).", ["outcome"])
PUSH_DEVICES_DISABLED = Counter(
    "loyalty_push_devices_disabled", "Devices disabled after FCM said their token is dead.")
WORKER_STEP = Histogram(
    "loyalty_worker_step_seconds", "Time of each step of a worker pass: claim, send.",
    ["step"], buckets=STEP_BUCKETS)
WORKER_LAST_PASS = Gauge(
    "loyalty_worker_last_pass_timestamp_seconds",
    "Unix time at which a worker pass last ended.", multiprocess_mode="max")
JOB_DURATION = Histogram(
    "loyalty_job_duration_seconds", "Time of each scheduled job's run, by job.", ["job"],
    buckets=STEP_BUCKETS)
JOB_FAILURES = Counter(
    "loyalty_job_failures", "Scheduled job runs that raised, by job.", ["job"])

# --- Features to come: declared so that they only have to be incremented --------------
EMAILS = Counter(
    "loyalty_emails", "Emails by outcome: sent, retried, failed, bounced, suppressed.",
    ["outcome"])
SMS = Counter(
    "loyalty_sms", "Text messages by outcome: sent, retried, failed, suppressed.", ["outcome"])
JOURNEY_STEPS = Counter(
    "loyalty_journey_steps",
    "Journey steps run, by step kind (the engine's own list, never a journey's name) and "
    "outcome: done, waiting, failed.", ["kind", "outcome"])
JOURNEY_TIMER_LAG = Histogram(
    "loyalty_journey_timer_lag_seconds",
    "Seconds between a journey run's wake time and the pass that advanced it.",
    buckets=LATENCY_BUCKETS + (30.0, 60.0, 300.0))
JOURNEY_EVENT_LAG = Histogram(
    "loyalty_journey_event_lag_seconds",
    "Seconds between an event's arrival in the stream and the pass of the journeys "
    "worker that read it (entries, wake-ups, goals).", buckets=LATENCY_BUCKETS)
SEGMENT_RECOMPUTE = Histogram(
    "loyalty_segment_recompute_seconds",
    "Time to recompute segment membership, by mode: incremental, full.", ["mode"],
    buckets=STEP_BUCKETS)

_STARTED = time.time()


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def exposition() -> tuple[bytes, str]:
    """The text a scrape gets: every process's values in multiprocess mode."""
    UPTIME.set(time.time() - _STARTED)
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_exited() -> None:
    """Drop this process's live gauges (multiprocess mode), so that a stopped
    worker's pool and subscribers stop counting."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())
