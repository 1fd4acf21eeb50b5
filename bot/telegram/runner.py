"""Serves Telegram: polling (default) or webhook. On SIGTERM/SIGINT the bot stops taking
updates, finishes the questions in flight, stores everything, then exits.

Alongside, the process follows the serving index version recorded in the database (so a
reload made through another instance or a shell reaches it within seconds)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramNetworkError,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import BotCommand, BotCommandScopeChat
from aiogram.webhook.aiohttp_server import setup_application
from aiohttp import web

from bot.db.engine import migrate
from bot.db.repository import Repository, utcnow
from bot.db.set_aside import SetAsideFile
from bot.ops import add_routes, serve_ops
from bot.settings import Settings
from bot.telegram.middlewares import BotApiRetry, FitMessages, InFlight, TelegramGaveUpError
from bot.telegram.polling import Poller
from bot.telegram.updates import UnreadableUpdates, brief
from bot.telegram.webhook import SECRET_FORMAT, WebhookHandler
from bot.texts import EN, ZH

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger(__name__)
T = TypeVar("T")


def make_bot(settings: Settings, *, on_retry: Callable[[str], None] | None = None) -> Bot:
    assert settings.telegram.token is not None
    telegram = settings.telegram
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(telegram.api_base), timeout=telegram.request_timeout_s
    )
    session.middleware(FitMessages())  # outermost: each part is retried on its own
    session.middleware(BotApiRetry(budget_s=telegram.send_retry_s, on_retry=on_retry))
    return Bot(
        token=settings.telegram.token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


async def serve(services: Services, dispatcher: Dispatcher, bot: Bot) -> None:
    """Run the dispatcher (polling or webhook) with the services' background work around it."""
    settings = services.settings
    recorder, serving, database = services.recorder, services.serving, services.database
    recorder.start()
    # Queued first: every write waits behind it, and it is retried while the database is down.
    migrated = recorder.submit("schema migration", lambda _repo: migrate(database.engine))
    cutoff = utcnow() - timedelta(days=settings.database.retention_days)
    recorder.submit("retention pruning", lambda repo: repo.prune(cutoff))
    services.answers.start()
    version_id = serving.version_id
    recorder.submit(
        "serving version",
        lambda repo: _announce(repo, version_id),
        record={"version_id": version_id, "action": "start"},
    )
    in_flight: InFlight = dispatcher["in_flight"]
    follower: asyncio.Task[None] | None = None
    taught_follower: asyncio.Task[None] | None = None

    async def on_startup(bot: Bot) -> None:
        nonlocal follower, taught_follower
        await _until_reachable(lambda: _set_commands(bot, settings), "setting the commands menu")
        me = await _until_reachable(bot.me, "getMe")
        follower = asyncio.create_task(
            serving.follow(database.repository, settings.admin.version_poll_s, after=migrated),
            name="version-follower",
        )
        taught_follower = asyncio.create_task(
            services.taught.follow(settings.admin.version_poll_s, after=migrated),
            name="taught-follower",
        )
        log.info("serving Telegram as @%s (%s mode)", me.username, settings.telegram.mode)

    async def on_shutdown() -> None:
        for task in (follower, taught_follower):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        grace = settings.telegram.shutdown_grace_s
        if not await in_flight.counter.wait_idle(grace):
            log.error(
                "shutdown: %d updates still in progress after %.0f s",
                in_flight.counter.count,
                grace,
            )
        await recorder.stop(timeout=grace)
        await services.answers.stop()
        await dispatcher.storage.close()
        log.info("stopped; %d writes stored", recorder.stats.written)

    dispatcher.startup.register(on_startup)
    dispatcher.shutdown.register(on_shutdown)
    unreadable = UnreadableUpdates(
        SetAsideFile(settings.paths.data_dir / "set-aside" / "updates.jsonl")
    )
    services.metrics.watch(services, updates_set_aside=unreadable.file)
    if settings.telegram.mode == "webhook":
        await _serve_webhook(services, dispatcher, bot, unreadable)
        return
    ops = None
    if settings.ops.enabled:
        ops = await serve_ops(services, services.metrics, settings.ops.host, settings.ops.port)
    try:
        await _serve_polling(dispatcher, bot, settings, unreadable)
    finally:
        if ops is not None:
            await ops.cleanup()


async def _serve_polling(
    dispatcher: Dispatcher, bot: Bot, settings: Settings, unreadable: UnreadableUpdates
) -> None:
    workflow = {"dispatcher": dispatcher, "bots": [bot], **dispatcher.workflow_data}
    workflow.pop("bot", None)
    stop = _stop_on_signals()  # first: a stop while the start still waits for the Bot API
    poller = Poller(
        dispatcher, bot, unreadable, timeout=settings.telegram.polling_timeout, **workflow
    )
    try:
        started = await _unless_stopped(
            _until_reachable(
                lambda: bot.delete_webhook(drop_pending_updates=False), "deleteWebhook"
            ),
            stop,
        ) and await _unless_stopped(dispatcher.emit_startup(bot=bot, **workflow), stop)
        if started:
            log.info("polling for updates")
            await poller.run(stop)
        else:
            log.info("stopped while starting")
    finally:
        try:
            await poller.finish(settings.telegram.shutdown_grace_s)
            await dispatcher.emit_shutdown(bot=bot, **workflow)
        finally:
            await bot.session.close()  # also after a refused token: no unclosed session


async def _unless_stopped(work: Awaitable[object], stop: asyncio.Event) -> bool:
    """Run ``work`` unless ``stop`` is set first (then cancel it): whether it finished."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if task.done():
        task.result()  # its error, if any (a refused token)
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _until_reachable(call: Callable[[], Awaitable[T]], what: str) -> T:
    """Retry a start-up call while the Bot API cannot be reached or fails on its side (5xx,
    timeouts, a broken response), with backoff; a refused token stops the process."""
    delay = 1.0
    while True:
        try:
            return await call()
        except TelegramUnauthorizedError as exc:
            raise StartRefusedError(
                "the Bot API refused the token (401 Unauthorized): check BOT_TOKEN"
            ) from exc
        except (
            TelegramNetworkError,
            TelegramServerError,
            ClientDecodeError,
            TelegramGaveUpError,  # the session's own retries ran out
        ) as exc:
            log.error(
                "%s: Bot API unreachable or failing (%s); retrying in %.0f s",
                what,
                brief(exc),
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


class StartRefusedError(RuntimeError):
    """The bot cannot serve as configured (a refused token, a webhook without a secret):
    retrying cannot help; the message says what to change."""


async def _set_commands(bot: Bot, settings: Settings) -> None:
    for texts, language in ((ZH, None), (EN, "en")):
        commands = [BotCommand(command=c, description=d) for c, d in texts.commands.items()]
        await bot.set_my_commands(commands, language_code=language)
    # Admins see their commands in the menu of their private chat with the bot.
    admin_menu = [
        BotCommand(command=c, description=d)
        for c, d in {**ZH.commands, **ZH.admin_commands}.items()
    ]
    for admin_id in settings.admin.ids:
        try:
            await bot.set_my_commands(admin_menu, scope=BotCommandScopeChat(chat_id=admin_id))
        except TelegramAPIError as exc:  # e.g. the admin never opened a chat with the bot
            log.warning("cannot set the admin menu for %s: %r", admin_id, exc)


async def _announce(repository: Repository, version_id: str) -> None:
    """Record the version this process starts with when it differs from the recorded one
    (e.g. after `python -m index build`); otherwise it follows the recorded one."""
    if await repository.serving_version() != version_id:
        actor = f"start:{socket.gethostname()}:{os.getpid()}"[:64]
        await repository.record_switch(version_id, "start", actor)


async def _serve_webhook(
    services: Services, dispatcher: Dispatcher, bot: Bot, unreadable: UnreadableUpdates
) -> None:
    settings = services.settings
    telegram = settings.telegram
    secret = _webhook_secret(settings)
    app = web.Application()
    WebhookHandler(dispatcher, bot, secret=secret, unreadable=unreadable).register(
        app, path=telegram.webhook_path
    )
    add_routes(app, services, services.metrics)  # /healthz, /livez, /metrics
    setup_application(app, dispatcher, bot=bot)
    stop = _stop_on_signals()  # first: a stop while the start still waits for the Bot API
    runner = web.AppRunner(app, handle_signals=False)
    started = False
    try:
        started = (
            not telegram.webhook_url
            or await _unless_stopped(
                _until_reachable(
                    lambda: bot.set_webhook(telegram.webhook_url or "", secret_token=secret),
                    "setWebhook",
                ),
                stop,
            )
        ) and await _unless_stopped(runner.setup(), stop)  # runs the dispatcher's startup
        if not started:
            log.info("stopped while starting")
            return
        site = web.TCPSite(runner, telegram.webhook_host, telegram.webhook_port)
        await site.start()
        log.info(
            "webhook listening on %s:%s%s; calls without the secret are refused",
            telegram.webhook_host,
            telegram.webhook_port,
            telegram.webhook_path,
        )
        await stop.wait()
    finally:
        if started:
            await runner.cleanup()  # the dispatcher's shutdown (in-flight wait, flush), session
        else:  # a refused token or a stop before the start finished
            try:
                await dispatcher.emit_shutdown(bot=bot)
            finally:
                await bot.session.close()


def _webhook_secret(settings: Settings) -> str:
    """The configured secret (checked), or, when this process registers the webhook itself, a
    new random one. Without either, anyone who finds the URL could pose as Telegram."""
    telegram = settings.telegram
    if telegram.webhook_secret is not None:
        secret = telegram.webhook_secret.get_secret_value()
        if not SECRET_FORMAT.fullmatch(secret):
            raise StartRefusedError(
                "TELEGRAM__WEBHOOK_SECRET must be 16-256 characters of A-Z, a-z, 0-9, _ and -"
            )
        return secret
    if telegram.webhook_url:
        log.info("no webhook secret configured: a new one is generated and registered")
        return secrets.token_urlsafe(32)
    raise StartRefusedError(
        "webhook mode needs a secret: set TELEGRAM__WEBHOOK_SECRET (16-256 characters of "
        "A-Z, a-z, 0-9, _ and -) and register it with setWebhook, or set "
        "TELEGRAM__WEBHOOK_URL so the bot registers the webhook with a secret of its own"
    )
