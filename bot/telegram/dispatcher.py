"""Assembles a Dispatcher: fresh routers, middlewares, and the services handlers ask for by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import Dispatcher
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage

from bot.telegram.answer_cache import AnswerCache
from bot.telegram.dialogue import DialogueMemory
from bot.telegram.handlers import build_router
from bot.telegram.middlewares import InFlight, LanguageMiddleware, Throttling
from bot.telegram.updates import ExactlyOnce

if TYPE_CHECKING:
    from bot.app import Services


def build_dispatcher(services: Services, *, fsm_storage: BaseStorage | None = None) -> Dispatcher:
    settings = services.settings
    dispatcher = Dispatcher(storage=fsm_storage or MemoryStorage())
    # Workflow data: handlers declare `answers: AnswerService`, `recorder: Recorder`, ...
    dispatcher["settings"] = settings
    dispatcher["answers"] = services.answers
    dispatcher["serving"] = services.serving
    dispatcher["recorder"] = services.recorder
    dispatcher["repository"] = services.database.repository  # reads; writes: the recorder
    dispatcher["reloader"] = services.reloader
    dispatcher["cache"] = AnswerCache()
    dispatcher["taught"] = services.taught
    dispatcher["dialogue"] = DialogueMemory(settings.telegram.dialogue_minutes)
    in_flight = InFlight()
    dispatcher["in_flight"] = in_flight  # the shutdown waits for the updates it counts
    dispatcher.update.outer_middleware(in_flight)
    # Inside the count: shutdown waits until a handled update is recorded as handled.
    dispatcher.update.outer_middleware(ExactlyOnce(services.database.repository, services.recorder))
    dispatcher.update.outer_middleware(LanguageMiddleware())
    throttling = Throttling(settings.telegram.throttle_burst, settings.telegram.throttle_rate)
    dispatcher.include_router(build_router(throttling=throttling))
    return dispatcher
