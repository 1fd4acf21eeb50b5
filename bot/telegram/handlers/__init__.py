"""Routers, one per feature; ``build_router`` assembles new ones in a fixed order (most
specific first), so every dispatcher gets its own."""

from __future__ import annotations

from aiogram import BaseMiddleware, Router

from bot.telegram.handlers import (
    admin_docs,
    admin_index,
    admin_stats,
    admin_taught,
    errors,
    fallback,
    feedback,
    privacy,
    questions,
    start,
)


def build_router(*, throttling: BaseMiddleware) -> Router:
    root = Router(name="root")
    asking = questions.router()
    asking.message.middleware(throttling)
    root.include_routers(
        errors.router(),
        start.router(),
        privacy.router(),
        feedback.router(),
        admin_index.router(),
        admin_docs.router(),
        admin_stats.router(),
        admin_taught.router(),
        asking,
        fallback.router(),
    )
    return root
