"""``python -m bot reload | rollback | status``: the admin commands from a shell.

A reload or rollback made here is recorded in the database like one made in Telegram, so
every running bot switches to it within ``[admin] version_poll_s`` seconds. ``reload --json
--build-only`` is what a running bot starts in a child process: it builds and validates, and the
bot makes the switch itself.
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

from bot.app import load_settings, migrated, open_database
from bot.settings import Settings
from index import (
    IndexCoreError,
    ServingStatus,
    SwitchResult,
    build_validated,
    current_version_id,
    load_encoder,
    reload_corpus,
    rollback,
    serving_status,
)

EXIT_ERROR = 2


def run_admin_command(args: argparse.Namespace) -> int:
    as_json = getattr(args, "json", False)
    build_only = getattr(args, "build_only", False)
    try:
        settings = load_settings()
        if args.command == "status":
            _print_status(serving_status(settings, current_version_id(settings)))
            return 0
        if args.command == "reload":
            result = _reload(settings, as_json=as_json, build_only=build_only)
        else:
            result = rollback(settings, load_encoder(settings), args.version)
    except IndexCoreError as exc:
        if as_json:
            _emit({"event": "error", "message": str(exc)})
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    if as_json:
        _emit({"event": "done", "result": dataclasses.asdict(result)})
    if build_only:
        if not as_json:
            print(f"built and validated {result.version_id}; not serving it (--build-only)")
        return 0
    try:
        asyncio.run(_record(settings, result.version_id, args.command))
    except Exception as exc:  # switched on this disk; the other instances were not told
        print(
            f"warning: {result.version_id} serves from this data folder, but the database could "
            f"not record it ({exc!r}); other instances follow once a reload is recorded",
            file=sys.stderr,
        )
        return 1
    if not as_json:
        print(
            f"serving {result.version_id} ({result.documents} documents, {result.passages} "
            f"passages; was {result.previous_id or 'none'}) after {result.seconds:.1f} s"
            + (f"; checks: {result.checks}" if result.checks else "")
        )
    return 0


def _reload(settings: Settings, *, as_json: bool, build_only: bool) -> SwitchResult:
    if as_json:
        os.nice(10)  # when a serving bot started it, its questions come first

        def progress(stage: str, done: int, total: int) -> None:
            _emit({"event": "progress", "stage": stage, "done": done, "total": total})
    else:

        def progress(stage: str, done: int, total: int) -> None:
            if done in (0, total):
                print(f"{stage} {done}/{total}", file=sys.stderr)

    progress("loading model", 0, 1)
    build = build_validated if build_only else reload_corpus
    return build(settings, load_encoder(settings), on_progress=progress)


def _print_status(status: ServingStatus) -> None:
    print(f"serving {status.version_id}, built {status.created_at} in {status.build_seconds} s")
    print(f"{status.passages} passages from {len(status.documents)} documents:")
    for doc in status.documents:
        print(f"  {doc.doc_id}: {doc.title} ({doc.passages} passages)")
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
    async with open_database(settings) as database:
        await migrated(database)
        actor = f"shell:{getpass.getuser()}@{socket.gethostname()}"[:64]
        await database.repository.record_switch(version_id, action, actor)


def _emit(event: dict[str, object]) -> None:
    print(json.dumps(event, ensure_ascii=False), flush=True)
