"""Alembic environment. The bot runs it on the connection it hands over (bot.db.engine.migrate);
``alembic upgrade head`` from the repository runs it on the database the project's settings name
(``DATABASE_URL``, else the SQLite file in ``DATA_DIR``), with the project's own async drivers."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from bot.db.engine import make_engine
from bot.db.models import Base
from bot.settings import Settings

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_settings_database() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or Settings.load().database_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


handed_over = config.attributes.get("connection")
if handed_over is not None:
    _run(handed_over)
elif context.is_offline_mode():
    context.configure(url=Settings.load().database_url(), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_on_settings_database())
