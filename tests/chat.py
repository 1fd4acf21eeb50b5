"""Talking to a bot process through the Bot API stand-in, and reading what it stored."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.bot_process import wait_handled
from tests.telegram_stub import BotApiStub, Call, message_update

next_user_ids = iter(range(100_000, 200_000))


def ask(stub: BotApiStub, text: str | None, *, user_id: int | None = None, **kw: Any) -> list[Call]:
    """Push one message; once the bot has handled it, return what it sent to that chat."""
    user_id = user_id or next(next_user_ids)
    chat_id = kw.get("chat_id", user_id)
    since = time.monotonic()
    wait_handled(stub.push(message_update(user_id, text, **kw)))  # every part has been sent
    return stub.sent_to(chat_id, since)


def rows(data_dir: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data_dir / "bot.sqlite3") as db:
        return db.execute(sql, args).fetchall()


def wait_rows(data_dir: Path, sql: str, *args: Any, count: int = 1) -> list[tuple[Any, ...]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = rows(data_dir, sql, *args)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    return rows(data_dir, sql, *args)


def buttons(call: Call) -> list[dict[str, str]]:
    return call.params["reply_markup"]["inline_keyboard"][0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post_update(url: str, update: dict[str, object], secret: str) -> int:
    """Deliver an update to a bot's webhook as Telegram does; returns the HTTP status."""
    request = urllib.request.Request(
        url,
        data=json.dumps(update).encode(),
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_listening(port: int, timeout: float = 60.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port`` (a webhook server)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
