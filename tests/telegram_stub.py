"""A Bot API stand-in on 127.0.0.1: the real aiogram ``Bot`` talks HTTP to it as to Telegram.

It runs its own event loop in a thread, so tests and benchmarks drive it from plain code:
``push`` an update, then ``wait_for`` the calls the bot makes. It implements the methods the bot
calls (getMe, getUpdates with long polling, sendMessage, editMessageText, answerCallbackQuery,
sendChatAction, setMyCommands, deleteWebhook, setWebhook, sendDocument, sendPhoto, getFile and
the file download URL) and misbehaves on demand, as Telegram and networks do: the next call of
a method fails (e.g. 429 with retry_after), every call fails for a while (500) or hangs, and
updates confirmed by an offset can be delivered again (a confirmation Telegram lost).

Offsets work as Telegram's: getUpdates with ``offset`` confirms, and forgets, every update below
it; unconfirmed updates are delivered again to the next getUpdates, from any process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "工会问答", "username": "union_qa_bot"}


# Telegram serves files to bots up to this size; getFile gives no file_path above it.
DOWNLOAD_LIMIT = 20 * 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """A file the bot sent (sendDocument, sendPhoto)."""

    filename: str
    data: bytes


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str
    at: float = field(default_factory=time.monotonic)
    result: Any = None


class BotApiStub:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._updates: list[dict[str, Any]] = []
        # Telegram starts update ids at a number of its own (and again, at random, after a week
        # without updates): so does the stand-in, so ids never repeat across stand-ins.
        self._update_ids = itertools.count(random.randint(10**6, 10**9))
        self._message_ids = itertools.count(1000)
        self._failures: dict[str, list[dict[str, Any]]] = {}
        self._outages: dict[str, tuple[float, int]] = {}  # method -> (until, HTTP status)
        self._hangs: dict[str, tuple[float, float]] = {}  # method -> (until, seconds to hang)
        self._confirmed: dict[int, dict[str, Any]] = {}  # updates an offset confirmed, by id
        self._files: dict[str, tuple[bytes, int]] = {}  # file_id -> (content, declared size)
        self._lock = threading.Lock()
        self._loop = asyncio.AbstractEventLoop()  # replaced by a real loop in start()
        self._new_update: asyncio.Condition | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> str:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self.base_url

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        self._new_update = asyncio.Condition()
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    # --- driving the bot -------------------------------------------------------------------

    def push(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates; returns its update_id."""
        update_id = next(self._update_ids)
        update = {"update_id": update_id, **update}

        async def add() -> None:
            assert self._new_update is not None
            async with self._new_update:
                self._updates.append(update)
                self._new_update.notify_all()

        asyncio.run_coroutine_threadsafe(add(), self._loop).result(5)
        return update_id

    def add_file(self, file_id: str, data: bytes, *, size: int | None = None) -> None:
        """Make a file downloadable (getFile, then the file URL); ``size`` may differ from
        the content's to model a client that announces one size and sends another."""
        with self._lock:
            self._files[file_id] = (data, len(data) if size is None else size)

    def fail_next(self, method: str, *, code: int = 429, retry_after: int | None = 1) -> None:
        """Make the next call of ``method`` fail with ``code`` (default: flood control)."""
        error: dict[str, Any] = {"ok": False, "error_code": code, "description": "stub failure"}
        if retry_after is not None:
            error["parameters"] = {"retry_after": retry_after}
            error["description"] = f"Too Many Requests: retry after {retry_after}"
        with self._lock:
            self._failures.setdefault(method, []).append(error)

    def fail_for(self, method: str, seconds: float, *, code: int = 500) -> None:
        """Every call of ``method`` in the next ``seconds`` fails with ``code`` (JSON error)."""
        with self._lock:
            self._outages[method] = (time.monotonic() + seconds, code)

    def hang_for(self, method: str, seconds: float, *, hang_s: float) -> None:
        """Every call of ``method`` in the next ``seconds`` hangs ``hang_s``, then fails with
        504 (not delivered), like a gateway that gave up."""
        with self._lock:
            self._hangs[method] = (time.monotonic() + seconds, hang_s)

    def redeliver_confirmed(self) -> int:
        """Deliver again every update already confirmed (Telegram lost the confirmation);
        returns how many."""

        async def add() -> int:
            assert self._new_update is not None
            async with self._new_update:
                pending = {u["update_id"] for u in self._updates}
                again = [u for i, u in self._confirmed.items() if i not in pending]
                self._updates = sorted(again + self._updates, key=lambda u: u["update_id"])
                self._new_update.notify_all()
                return len(again)

        return asyncio.run_coroutine_threadsafe(add(), self._loop).result(5)

    @property
    def pending_updates(self) -> list[int]:
        """Ids of the updates not yet confirmed by an offset."""
        with self._lock:
            return [u["update_id"] for u in self._updates]

    def wait_for(
        self, predicate: Callable[[Call], bool], *, count: int = 1, timeout: float = 30.0
    ) -> list[Call]:
        """Block until ``count`` calls satisfy ``predicate``; return them."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [c for c in self.calls if predicate(c)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.01)

    def wait_sent(self, chat_id: int, since: float, *, timeout: float = 30.0) -> list[Call]:
        """Block until a message has been delivered to ``chat_id`` since ``since``; return those
        delivered so far."""
        self.wait_for(
            lambda c: (
                c.method == "sendMessage"
                and c.at >= since
                and c.result is not None
                and int(c.params["chat_id"]) == chat_id
            ),
            timeout=timeout,
        )
        return self.sent_to(chat_id, since)

    def sent_to(self, chat_id: int, since: float = 0.0) -> list[Call]:
        """Messages delivered to ``chat_id`` (calls the stand-in accepted) since ``since``."""
        with self._lock:
            return [
                c
                for c in self.calls
                if c.at >= since
                and c.method == "sendMessage"
                and c.result is not None
                and int(c.params["chat_id"]) == chat_id
            ]

    # --- Bot API ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        call = Call(method, params, request.match_info["token"])
        now = time.monotonic()
        with self._lock:
            self.calls.append(call)
            queued = self._failures.get(method)
            failure = queued.pop(0) if queued else None
            outage, hang = self._outages.get(method), self._hangs.get(method)
        if failure is None and outage is not None and now < outage[0]:
            failure = {"ok": False, "error_code": outage[1], "description": "Internal Server Error"}
        if failure is None and hang is not None and now < hang[0]:
            assert self._stopping is not None
            with contextlib.suppress(TimeoutError):  # a stopping stand-in ends its hangs
                await asyncio.wait_for(self._stopping.wait(), hang[1])
            failure = {"ok": False, "error_code": 504, "description": "Gateway Timeout"}
        if method in ("sendMessage", "editMessageText") and len(params.get("text", "")) > 4096:
            failure = {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message is too long",
            }
        if failure is not None:
            return web.json_response(failure, status=failure["error_code"])
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
                status=404,
            )
        call.result = await handler(params)
        return web.json_response({"ok": True, "result": call.result})

    async def _api_getMe(self, _: dict[str, Any]) -> Any:
        return BOT_USER

    async def _api_getFile(self, params: dict[str, Any]) -> Any:
        file_id = str(params["file_id"])
        with self._lock:
            _, size = self._files.get(file_id, (b"", 0))
        result = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": size}
        if size <= DOWNLOAD_LIMIT:
            result["file_path"] = f"documents/{file_id}"
        return result

    async def _download(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        with self._lock:
            found = self._files.get(file_id)
        if found is None:
            return web.Response(status=404)
        return web.Response(body=found[0], content_type="application/octet-stream")

    async def _api_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        assert self._new_update is not None
        async with self._new_update:
            self._confirmed.update(
                (u["update_id"], u) for u in self._updates if u["update_id"] < offset
            )
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if not self._updates and timeout:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new_update.wait(), timeout)
            return list(self._updates[:limit])

    async def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        return self._message(params, text=params.get("text", ""))

    async def _api_sendPhoto(self, params: dict[str, Any]) -> Any:
        return self._message(
            params, photo=[{"file_id": "p1", "file_unique_id": "p1", "width": 1, "height": 1}]
        )

    async def _api_sendDocument(self, params: dict[str, Any]) -> Any:
        return self._message(params, document={"file_id": "d1", "file_unique_id": "d1"})

    async def _api_editMessageText(self, params: dict[str, Any]) -> Any:
        if "inline_message_id" in params:
            return True
        message = self._message(params, text=params.get("text", ""))
        message["message_id"] = int(params["message_id"])
        return message

    async def _api_answerCallbackQuery(self, _: dict[str, Any]) -> Any:
        return True

    async def _api_sendChatAction(self, _: dict[str, Any]) -> Any:
        return True

    async def _api_setMyCommands(self, _: dict[str, Any]) -> Any:
        return True

    async def _api_deleteWebhook(self, _: dict[str, Any]) -> Any:
        return True

    async def _api_setWebhook(self, _: dict[str, Any]) -> Any:
        return True

    def _message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": BOT_USER,
            **content,
        }


async def _params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        params.update(await request.json())
    elif request.can_read_body:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                try:
                    params[key] = json.loads(value) if value[:1] in "{[" else value
                except ValueError:
                    params[key] = value
            else:
                params[key] = Upload(getattr(value, "filename", ""), value.file.read())
    # aiogram sends a file as `photo=attach://<name>` plus a part called <name>.
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            params[key] = params.get(value.removeprefix("attach://"), value)
    return params


# --- update builders ---------------------------------------------------------------------------

_now = lambda: int(time.time())  # noqa: E731


def user(user_id: int, language: str = "zh-hans", name: str = "工人") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": name, "language_code": language}


def message_update(
    user_id: int,
    text: str | None = None,
    *,
    chat_id: int | None = None,
    chat_type: str = "private",
    language: str = "zh-hans",
    kind: str = "message",
    message_id: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    chat = {"id": chat_id if chat_id is not None else user_id, "type": chat_type}
    if chat_type != "private":
        chat["title"] = "工友群"
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": _now(),
        "chat": chat,
        "from": user(user_id, language),
        **extra,
    }
    if text is not None:
        message["text"] = text
    if kind == "edited_message":
        message["edit_date"] = _now()
    if kind == "channel_post":
        message.pop("from")
        message["chat"] = {"id": chat_id or -100123, "type": "channel", "title": "工会频道"}
    return {kind: message}


def document_update(
    user_id: int,
    file_id: str,
    file_name: str | None,
    size: int,
    *,
    chat_type: str = "private",
    language: str = "zh-hans",
) -> dict[str, Any]:
    document: dict[str, Any] = {"file_id": file_id, "file_unique_id": f"u{file_id}"}
    document["file_size"] = size
    if file_name is not None:
        document["file_name"] = file_name
    return message_update(user_id, None, chat_type=chat_type, language=language, document=document)


def callback_update(
    user_id: int,
    data: str,
    *,
    chat_id: int | None = None,
    message_id: int = 1000,
    language: str = "zh-hans",
) -> dict[str, Any]:
    chat_id = chat_id if chat_id is not None else user_id
    return {
        "callback_query": {
            "id": f"cb{user_id}{message_id}{time.monotonic_ns()}",
            "from": user(user_id, language),
            "chat_instance": "ci",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": _now(),
                "chat": {"id": chat_id, "type": "private"},
                "from": BOT_USER,
                "text": "答：…",
            },
        }
    }
