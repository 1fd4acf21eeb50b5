"""Assembles the Dispatcher: routers, middlewares, and the services handlers ask for by name."""

from __future__ import annotations

from aiogram import Dispatcher
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage

from bot.answers import AnswerService
from bot.db.recorder import Recorder
from bot.reloads import Reloader
from bot.settings import Settings
from bot.telegram.answer_cache import AnswerCache
from bot.telegram.handlers import build_router
from bot.telegram.middlewares import InFlight, LanguageMiddleware, Throttling


def build_dispatcher(
    settings: Settings,
    answers: AnswerService,
    recorder: Recorder,
    reloader: Reloader,
    *,
    fsm_storage: BaseStorage | None = None,
) -> tuple[Dispatcher, InFlight]:
    dispatcher = Dispatcher(storage=fsm_storage or MemoryStorage())
    # Workflow data: handlers declare `answers: AnswerService`, `recorder: Recorder`, ...
    dispatcher["settings"] = settings
    dispatcher["answers"] = answers
    dispatcher["recorder"] = recorder
    dispatcher["repository"] = recorder.repository  # reads; writes go through the recorder
    dispatcher["reloader"] = reloader
    dispatcher["cache"] = AnswerCache()
    in_flight = InFlight()
    dispatcher.update.outer_middleware(in_flight)
    dispatcher.update.outer_middleware(LanguageMiddleware())
    throttling = Throttling(settings.telegram.throttle_burst, settings.telegram.throttle_rate)
    dispatcher.include_router(build_router(throttling=throttling))
    return dispatcher, in_flight
