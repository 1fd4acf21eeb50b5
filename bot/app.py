"""The composition root: the one place that builds settings, the encoder, the serving index,
the database, the recorder, the answer service and (for Telegram) the dispatcher and the bot.
Every face — the console chat, ``ask``, Telegram polling and webhook, the admin shell
commands — gets what it needs from here.

How a question travels: Telegram update → ``bot/telegram/handlers/questions.py`` →
``AnswerService`` (``bot/answers.py``, batches) → ``index.Answerer.answer_many`` (the core) →
back to the handler, which renders the ``Answer`` and queues it for storage (``Recorder``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from threadpoolctl import threadpool_limits

from bot.answers import AnswerService
from bot.db.engine import make_engine, make_sessionmaker, migrate
from bot.db.outbox import Outbox
from bot.db.recorder import Recorder
from bot.db.repository import Repository
from bot.db.set_aside import SetAsideFile
from bot.ops import Metrics
from bot.reloads import Reloader
from bot.serving import ServingIndex
from bot.settings import Settings
from bot.taught import TaughtAnswers
from index import (
    Answerer,
    Encoder,
    TaughtBank,
    load_encoder,
    open_answerer,
    open_serving,
    open_version,
    switch_current,
)

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher
    from aiogram.fsm.storage.base import BaseStorage
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)
_DISPOSE_TIMEOUT_S = 10.0
_TAUGHT_READ_TIMEOUT_S = 5.0


def configure_logging(level: int = logging.WARNING) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=False
    )
    logging.getLogger().setLevel(level)
    for noisy in ("bm25s", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # pypdf warns about each flaw it works around; a file it cannot read raises, and that is
    # reported to the admin as a DocumentError.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load_settings() -> Settings:
    """``config.toml`` (or ``CONFIG_FILE``) with the environment's overrides."""
    return Settings.load()


@dataclass
class Core:
    """What answering needs: the settings, the encoder and the serving version's answerer."""

    settings: Settings
    encoder: Encoder
    answerer: Answerer


def build_core(settings: Settings, *, progress: bool = True, serving: bool = False) -> Core:
    """Load the model and the serving index version (built on the first run). A ``serving``
    process (the Telegram bot) leaves ``[embedding] build_threads`` cores to its reloads."""
    threads = settings.embedding.serving_threads() if serving else None
    # One BLAS thread: the answer path's products are small (a question against its candidates
    # and the question bank), and numpy's BLAS threads, spinning after each, took the cores
    # ONNX Runtime's threads needed for the next question (measured: answer p50 42 -> 20 ms).
    threadpool_limits(limits=1, user_api="blas")
    encoder = load_encoder(settings, threads=threads)
    version = open_serving(settings, encoder, progress=progress)
    answerer = open_answerer(settings, encoder, version)
    log.info("serving index %s (%d passages)", version.version_id, version.manifest.chunk_count)
    return Core(settings, encoder, answerer)


def load_taught(core: Core) -> TaughtBank:
    """The answers admins taught, from the configured database, for the console and ``ask``
    (none when the database is away or was never set up: documents still answer)."""

    async def read() -> TaughtBank:
        async with open_database(core.settings) as database:
            taught = TaughtAnswers(database.repository, core.encoder)
            await asyncio.wait_for(taught.refresh(), _TAUGHT_READ_TIMEOUT_S)
            return taught.bank

    try:
        return asyncio.run(read())
    except Exception as exc:  # no such table yet, or no database: answer from documents only
        log.info("no taught answers loaded: %r", exc)
        return TaughtBank.empty()


@dataclass
class Database:
    engine: AsyncEngine
    repository: Repository


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """The configured database (migrations not applied: see ``migrate``), disposed on exit."""
    engine = make_engine(settings.database_url())
    try:
        yield Database(engine, Repository(make_sessionmaker(engine)))
    finally:
        try:  # bounded: a connection the network broke must not keep the process from exiting
            await asyncio.wait_for(engine.dispose(), _DISPOSE_TIMEOUT_S)
        except TimeoutError:
            log.warning("closing the database connections took over %.0f s", _DISPOSE_TIMEOUT_S)


async def migrated(database: Database) -> None:
    await migrate(database.engine)


@dataclass
class Services:
    """Everything a serving bot process runs on, built once (in the running event loop)."""

    settings: Settings
    database: Database
    recorder: Recorder
    serving: ServingIndex
    answers: AnswerService
    reloader: Reloader
    metrics: Metrics
    taught: TaughtAnswers


def build_services(core: Core, database: Database) -> Services:
    settings = core.settings
    recorder = Recorder(
        database.repository,
        SetAsideFile(settings.paths.data_dir / "set-aside" / "writes.jsonl"),
        outbox=Outbox.claim(settings.paths.data_dir / "outbox"),
    )
    serving = ServingIndex(
        core.answerer,
        open_answerer=lambda version_id: open_answerer(
            settings, core.encoder, open_version(settings, core.encoder, version_id)
        ),
        switch_current=lambda version_id: switch_current(settings, version_id),
        recorder=recorder,
    )
    metrics = Metrics()
    taught = TaughtAnswers(database.repository, core.encoder)
    answers = AnswerService(
        lambda: serving.answerer, taught=lambda: taught.bank, on_answer=metrics.answered
    )
    reloader = Reloader(settings, serving, metrics)
    return Services(settings, database, recorder, serving, answers, reloader, metrics, taught)


def build_telegram(services: Services) -> tuple[Dispatcher, Bot]:
    """The dispatcher (fresh routers and middlewares) and the bot for the Bot API."""
    from bot.telegram.dispatcher import build_dispatcher
    from bot.telegram.runner import make_bot

    def retried(method: str) -> None:
        services.metrics.bot_api_retries.labels(method).inc()

    dispatcher = build_dispatcher(services, fsm_storage=fsm_storage(services.settings))
    return dispatcher, make_bot(services.settings, on_retry=retried)


def fsm_storage(settings: Settings) -> BaseStorage | None:
    """Redis when REDIS_URL is set (shared by instances; its outages fail soft), else None
    (in memory)."""
    if settings.telegram.redis_url is None:
        return None
    from aiogram.fsm.storage.base import DefaultKeyBuilder
    from aiogram.fsm.storage.redis import RedisStorage

    from bot.telegram.state import FailSoftStorage

    # Timeouts, so an unreachable Redis costs a question seconds at most, then nothing (it
    # fails soft: see FailSoftStorage). Keys name their destiny: the dialogue context is kept
    # beside the 👎 comment prompt's state (bot/telegram/dialogue.py).
    timeouts = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}
    redis = RedisStorage.from_url(
        settings.telegram.redis_url.get_secret_value(),
        connection_kwargs=timeouts,
        key_builder=DefaultKeyBuilder(with_destiny=True),
    )
    return FailSoftStorage(redis)


async def serve_telegram(core: Core) -> None:
    """Build everything and serve Telegram until SIGTERM/SIGINT."""
    from bot.telegram.runner import serve

    async with open_database(core.settings) as database:
        services = build_services(core, database)
        dispatcher, bot = build_telegram(services)
        await serve(services, dispatcher, bot)
