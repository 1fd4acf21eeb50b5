"""``python -m bot reload | rollback | status``: the admin commands from a shell.

A reload or rollback made here is recorded in the database like one made in Telegram, so
every running bot switches to it within ``[admin] version_poll_s`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import json
import os
import socket
import sys

from bot.db.engine import database_url, make_engine, make_sessionmaker, migrate
from bot.db.repository import Repository
from bot.settings import Settings
from index.errors import IndexCoreError
from index.store.lifecycle import ServingStatus, SwitchResult

EXIT_ERROR = 2


def run_admin_command(args: argparse.Namespace) -> int:
    as_json = getattr(args, "json", False)
    try:
        settings = Settings.load()
        if args.command == "status":
            _print_status(_status(settings))
            return 0
        if args.command == "reload":
            result = _reload(settings, as_json=as_json)
        else:
            result = _rollback(settings, args.version)
    except IndexCoreError as exc:
        if as_json:
            _emit({"event": "error", "message": str(exc)})
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    if as_json:
        _emit({"event": "done", "result": dataclasses.asdict(result)})
        return 0  # the bot that started this records the switch itself
    try:
        asyncio.run(_record(settings, result.version_id, args.command))
    except Exception as exc:  # switched on this disk; the other instances were not told
        print(
            f"warning: {result.version_id} serves from this data folder, but the database could "
            f"not record it ({exc!r}); other instances follow once a reload is recorded",
            file=sys.stderr,
        )
        return 1
    print(
        f"serving {result.version_id} ({result.documents} documents, {result.chunks} passages; "
        f"was {result.previous_id or 'none'}) after {result.seconds:.1f} s"
        + (f"; checks: {result.checks}" if result.checks else "")
    )
    return 0


def _reload(settings: Settings, *, as_json: bool) -> SwitchResult:
    from index.model.encoder import load_encoder
    from index.store.lifecycle import reload_corpus

    if as_json:
        os.nice(10)  # started by a serving bot: its questions come first

        def progress(stage: str, done: int, total: int) -> None:
            _emit({"event": "progress", "stage": stage, "done": done, "total": total})
    else:

        def progress(stage: str, done: int, total: int) -> None:
            if done in (0, total):
                print(f"{stage} {done}/{total}", file=sys.stderr)

    progress("loading model", 0, 1)
    return reload_corpus(settings, load_encoder(settings), on_progress=progress)


def _rollback(settings: Settings, target: str | None) -> SwitchResult:
    from index.model.encoder import load_encoder
    from index.store.lifecycle import rollback

    return rollback(settings, load_encoder(settings), target)


def _status(settings: Settings) -> ServingStatus:
    from index.model.encoder import load_encoder
    from index.store.lifecycle import serving_status, version_store

    version = version_store(settings).load_current(load_encoder(settings))
    return serving_status(settings, version)


def _print_status(status: ServingStatus) -> None:
    print(f"serving {status.version_id}, built {status.created_at} in {status.build_seconds} s")
    print(f"{status.chunks} passages from {len(status.documents)} documents:")
    for doc in status.documents:
        print(f"  {doc.doc_id}: {doc.title} ({doc.chunks} passages)")
    print(f"kept versions: {', '.join(status.kept)}")
    changes = status.changes
    for name in changes.removed:
        print(f"  removed from the corpus, still served: {name}")
    for file in changes.files:
        if not file.indexed:
            print(f"  new or changed, not yet served: {file.name}")
    if changes.pending:
        print("run `python -m bot reload` to serve the corpus folder as it is now")


async def _record(settings: Settings, version_id: str, action: str) -> None:
    url = database_url(
        settings.database.url.get_secret_value() if settings.database.url else None,
        settings.paths.data_dir,
    )
    engine = make_engine(url)
    try:
        await migrate(engine)
        actor = f"shell:{getpass.getuser()}@{socket.gethostname()}"[:64]
        await Repository(make_sessionmaker(engine)).record_switch(version_id, action, actor)
    finally:
        await engine.dispose()


def _emit(event: dict[str, object]) -> None:
    print(json.dumps(event, ensure_ascii=False), flush=True)
