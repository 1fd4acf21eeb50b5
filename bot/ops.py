"""What an operator sees: ``/healthz`` and ``/livez`` for a load balancer, ``/metrics`` for
Prometheus (prometheus-client's text format).

- ``/healthz`` (readiness): 200 when the bot serves — an index version is loaded, and the
  database answers (within a second) or its writes are being kept in the outbox on disk —,
  else 503; also while the process starts (the index loading or being built: see
  :func:`while_starting`). JSON: ready, index version, database state, writes waiting.
- ``/livez`` (liveness): the process serves HTTP and its event loop turns; always 200.
- ``/metrics``: questions (answered or refused) and the answer latency, observed where they
  happen (:class:`Metrics`); the rest read at scrape time from the services themselves (index
  version, reload state, recorder queue, writes stored, kept on disk, set aside, updates set
  aside), so no number can drift from what it counts.

Served on the webhook server's port in webhook mode, and on ``[ops] port`` in polling mode
(``[ops] enabled``); the console chat serves none.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as render
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger(__name__)

_PING_TIMEOUT_S = 1.0
PREFIX = "unionqa"


class Metrics:
    """The counters and histograms that are observed as things happen (one per process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.questions = Counter(
            f"{PREFIX}_questions",
            "Questions asked, by outcome (answered from the documents, or refused)",
            ["outcome"],
            registry=self.registry,
        )
        self.answer_seconds = Histogram(
            f"{PREFIX}_answer_seconds",
            "Time to answer a question (retrieval and extraction, queueing included)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.reloads = Counter(
            f"{PREFIX}_reloads",
            "Reloads and rollbacks run here, by kind and result",
            ["kind", "result"],
            registry=self.registry,
        )
        self.reload_seconds = Histogram(
            f"{PREFIX}_reload_seconds",
            "Duration of reloads run here (build, validation and switch)",
            buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=self.registry,
        )
        self.bot_api_retries = Counter(
            f"{PREFIX}_bot_api_retries",
            "Bot API calls retried (flood control, 5xx, timeouts, dropped connections)",
            ["method"],
            registry=self.registry,
        )
        for outcome in ("answered", "refused"):
            self.questions.labels(outcome)  # present (at 0) before the first question

    def answered(self, answered: bool, seconds: float) -> None:
        self.questions.labels("answered" if answered else "refused").inc()
        self.answer_seconds.observe(seconds)

    def watch(self, services: Services, *, updates_set_aside: Any = None) -> None:
        """Also report what ``services`` hold, read at each scrape."""
        self.registry.register(_Live(services, updates_set_aside))


class _Live(Collector):
    def __init__(self, services: Services, updates_set_aside: Any):
        self.services = services
        self.updates_set_aside = updates_set_aside  # a SetAsideFile (its count), or None

    def collect(self) -> Iterator[Metric]:
        services = self.services
        recorder, stats = services.recorder, services.recorder.stats
        version = GaugeMetricFamily(
            f"{PREFIX}_index_version_info", "The index version being served", labels=["version"]
        )
        version.add_metric([services.serving.version_id], 1)
        yield version
        yield GaugeMetricFamily(
            f"{PREFIX}_reload_running",
            "1 while a reload or rollback runs in this process",
            value=int(services.reloader.running),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_recorder_queue", "Writes waiting for the database", value=recorder.pending
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_database_away",
            "1 while writes go to the outbox on disk (the database is away)",
            value=int(recorder.keeping_locally),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_outbox_writes",
            "Writes in the outbox on disk, waiting for the database",
            value=len(recorder.outbox) if recorder.outbox is not None else 0,
        )
        writes = CounterMetricFamily(
            f"{PREFIX}_writes", "Database writes, by what became of them", labels=["result"]
        )
        writes.add_metric(["stored"], stats.written)
        writes.add_metric(["kept_on_disk"], stats.kept_locally)
        writes.add_metric(["replayed"], stats.replayed)
        writes.add_metric(["set_aside"], stats.set_aside)
        yield writes
        if self.updates_set_aside is not None:
            yield CounterMetricFamily(
                f"{PREFIX}_updates_set_aside",
                "Telegram updates that could not be read or handled, set aside for admins",
                value=self.updates_set_aside.count,
            )


async def _ready(services: Services) -> tuple[bool, dict[str, Any]]:
    recorder = services.recorder
    try:
        await asyncio.wait_for(services.database.repository.ping(), _PING_TIMEOUT_S)
        database = "reachable"
    except Exception as exc:  # down, stalled, or not migrated yet
        kept = recorder.outbox is not None and recorder.outbox_error is None  # its writes wait
        database = "away; writes kept on disk" if kept else f"unreachable ({type(exc).__name__})"
    ready = bool(services.serving.version_id) and not database.startswith("unreachable")
    return ready, {
        "ready": ready,
        "index_version": services.serving.version_id,
        "database": database,
        "writes_waiting": recorder.pending + (len(recorder.outbox) if recorder.outbox else 0),
    }


def add_routes(app: web.Application, services: Services, metrics: Metrics) -> None:
    """``/healthz``, ``/livez`` and ``/metrics`` on ``app``."""

    async def healthz(_: web.Request) -> web.Response:
        ready, body = await _ready(services)
        return web.json_response({"live": True, **body}, status=200 if ready else 503)

    async def livez(_: web.Request) -> web.Response:
        return web.json_response({"live": True})

    async def metrics_page(_: web.Request) -> web.Response:
        started = time.perf_counter()
        page = await asyncio.to_thread(render, metrics.registry)
        log.debug("metrics rendered in %.1f ms", (time.perf_counter() - started) * 1000)
        return web.Response(body=page, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", livez)
    app.router.add_get("/metrics", metrics_page)


async def serve_ops(
    services: Services, metrics: Metrics, host: str, port: int
) -> web.AppRunner | None:
    """The small HTTP server of polling mode; None (logged) when its port cannot be bound."""
    app = web.Application()
    add_routes(app, services, metrics)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        log.error("cannot serve /healthz and /metrics on %s:%s (%s); serving Telegram without",
                  host, port, exc)  # fmt: skip
        await runner.cleanup()
        return None
    log.info("health and metrics on http://%s:%s (/healthz, /livez, /metrics)", host, port)
    return runner


@contextlib.contextmanager
def while_starting(host: str, port: int) -> Iterator[None]:
    """While the process starts (the model and the index loading, the first index being
    built): ``/healthz`` and ``/metrics`` answer 503 and ``/livez`` 200 on ``host:port``, from a
    thread (the start is not async). Freed before the real server takes the port."""
    server = _StartingServer.bind(host, port)
    if server is None:
        yield
        return
    thread = threading.Thread(target=server.serve_forever, name="ops-starting", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _StartingHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        live = self.path.split("?", 1)[0] == "/livez"
        body = json.dumps({"live": True} if live else {"live": True, "ready": False,
                          "starting": "loading the model and the index"})  # fmt: skip
        self.send_response(200 if live else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_POST = do_GET  # noqa: N815  (a webhook call now: 503, Telegram delivers it again later)

    def log_message(self, format: str, *args: Any) -> None:
        return  # no access log


class _StartingServer(ThreadingHTTPServer):
    daemon_threads = True

    @classmethod
    def bind(cls, host: str, port: int) -> _StartingServer | None:
        try:
            return cls((host, port), _StartingHandler)
        except OSError as exc:
            log.warning("cannot answer /healthz on %s:%s while starting (%s)", host, port, exc)
            return None
