"""Routers, one per feature; ``build_router`` fixes their order (most specific first)."""

from __future__ import annotations

from aiogram import Router

from bot.telegram.handlers import (
    admin_docs,
    admin_index,
    admin_stats,
    errors,
    fallback,
    feedback,
    privacy,
    questions,
    start,
)


def build_router(*, throttling: object) -> Router:
    root = Router(name="root")
    questions.router.message.middleware(throttling)  # type: ignore[arg-type]
    root.include_routers(
        errors.router,
        start.router,
        privacy.router,
        feedback.router,
        admin_index.router,
        admin_docs.router,
        admin_stats.router,
        questions.router,
        fallback.router,
    )
    return root
