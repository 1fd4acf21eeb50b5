"""Admins: /stats (a chart and a summary) and /export (unanswered questions and taught answers
as CSV)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, Message

from bot.db.repository import Repository, utcnow
from bot.settings import Settings
from bot.telegram.admin_gate import AdminGate
from bot.texts import Texts
from bot.usage_report import taught_csv, unanswered_csv, usage_chart

STATS_DAYS = 30
_TOP_CHARS = 60


async def on_stats(message: Message, texts: Texts, repository: Repository) -> None:
    admin = texts.admin
    stats = await repository.usage(utcnow() - timedelta(days=STATS_DAYS))
    if stats.questions == 0:
        await message.answer(admin.stats_none.format(days=STATS_DAYS), parse_mode=None)
        return
    summary = admin.stats_summary.format(
        days=STATS_DAYS,
        questions=stats.questions,
        answered=stats.answered,
        share=stats.answered / stats.questions,
        up=stats.votes_up,
        down=stats.votes_down,
    )
    chart = await asyncio.to_thread(usage_chart, stats)
    await message.answer_photo(
        BufferedInputFile(chart, filename="stats.png"), caption=summary, parse_mode=None
    )
    if stats.top_unanswered:
        lines = "\n".join(
            f"{n}. {text[:_TOP_CHARS]} ×{count}"
            for n, (text, count) in enumerate(stats.top_unanswered, 1)
        )
        await message.answer(admin.stats_top.format(lines=lines), parse_mode=None)


async def on_export(
    message: Message, texts: Texts, repository: Repository, settings: Settings
) -> None:
    admin = texts.admin
    days = settings.database.retention_days  # everything still stored
    questions = await repository.unanswered(utcnow() - timedelta(days=days))
    if not questions:
        await message.answer(admin.export_none.format(days=days), parse_mode=None)
    else:
        data = await asyncio.to_thread(unanswered_csv, questions)
        await message.answer_document(
            BufferedInputFile(data, filename=f"unanswered-{utcnow():%Y%m%d}.csv"),
            caption=admin.export_caption.format(days=days, count=len(questions)),
            parse_mode=None,
        )
    taught = await repository.taught_answers(withdrawn=True)
    if taught:
        votes = await repository.taught_votes()
        data = await asyncio.to_thread(taught_csv, taught, votes)
        await message.answer_document(
            BufferedInputFile(data, filename=f"taught-{utcnow():%Y%m%d}.csv"),
            caption=admin.export_taught_caption.format(count=len(taught)),
            parse_mode=None,
        )


def router() -> Router:
    """This feature's handlers, on a new router (one per dispatcher)."""
    r = Router(name="admin_stats")
    r.message.middleware(AdminGate())
    r.message.register(on_stats, Command("stats"))
    r.message.register(on_export, Command("export"))
    return r
