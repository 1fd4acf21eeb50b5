"""Routers, one per feature; ``build_router`` fixes their order (most specific first)."""

from __future__ import annotations

from aiogram import Router

from bot.telegram.handlers import errors, fallback, feedback, privacy, questions, start


def build_router(*, throttling: object) -> Router:
    root = Router(name="root")
    questions.router.message.middleware(throttling)  # type: ignore[arg-type]
    root.include_routers(
        errors.router,
        start.router,
        privacy.router,
        feedback.router,
        questions.router,
        fallback.router,
    )
    return root
