"""Starts ``python -m bot run`` against the Bot API stand-in, as a real separate process."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, ClassVar

from tests.support import REPO, REPORT
from tests.telegram_stub import BotApiStub

TOKEN = "987654:TEST-stand-in-token-Zq8x"


def deployment(root: Path, converted_model: Path) -> tuple[Path, Path]:
    """A data folder (sharing the session's converted model) and a corpus folder with a copy
    of the report, so a test may change both freely (the laws are left out: these tests are
    about the bot's mechanics, and a build of the report takes seconds). Returns (data_dir,
    corpus_dir)."""
    data_dir, corpus_dir = root / "data", root / "corpus"
    link_models(data_dir, converted_model)
    corpus_dir.mkdir()
    shutil.copy(REPORT, corpus_dir / REPORT.name)
    return data_dir, corpus_dir


def link_models(data_dir: Path, converted_model: Path) -> None:
    """Give ``data_dir`` the session's converted model and its ONNX export (no re-export)."""
    (data_dir / "models").mkdir(parents=True, exist_ok=True)
    for folder in converted_model.parent.glob(f"{converted_model.name}*"):
        if folder.is_dir() and not folder.name.startswith("."):
            (data_dir / "models" / folder.name).symlink_to(folder.resolve())


def run_bot(
    *args: str, env: dict[str, str], stdin: str = "", timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run one `python -m bot` command to its end (offline, as a user would)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BotProcess:
    # Bot processes alive in this test session, so a test can wait for an update to be handled.
    running: ClassVar[list[BotProcess]] = []

    def __init__(self, stub: BotApiStub, data_dir: Path, log: Path, **env: str):
        BotProcess.running.append(self)
        self.stub = stub
        self.log_path = log
        self._log: IO[str] = log.open("w")
        self.env = {
            **os.environ,
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE": stub.base_url,
            "DATA_DIR": str(data_dir),
            "TELEGRAM__POLLING_TIMEOUT": "1",
            "HF_HUB_OFFLINE": "1",
            "OPS__PORT": str(_free_port()),  # /healthz and /metrics in polling mode
            **env,
        }
        self.ops_url = f"http://127.0.0.1:{self.env['OPS__PORT']}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"], env=self.env, cwd=REPO, stderr=self._log
        )

    def wait_started(self, timeout: float = 120.0, *, menus_before: int = 0) -> None:
        """Wait for this process to set its commands menus (two, after ``menus_before`` set by
        other processes of the same bot)."""
        token = self.env["BOT_TOKEN"]
        count = menus_before + 2
        started = self.stub.wait_for(
            lambda c: (
                c.method == "setMyCommands"
                and c.token == token
                and not c.params.get("scope")
                and c.result is not None  # accepted (a call the stand-in failed does not count)
            ),
            count=count,
            timeout=timeout,
        )
        assert len(started) >= count, self.log()

    @classmethod
    def started(cls, stub: BotApiStub, data_dir: Path, log: Path, **env: str) -> BotProcess:
        """A bot process that has started (whatever other processes did on ``stub`` before)."""
        before = len(
            stub.wait_for(
                lambda c: (
                    c.method == "setMyCommands"
                    and not c.params.get("scope")
                    and c.result is not None
                    and c.token == env.get("BOT_TOKEN", TOKEN)
                ),
                count=0,
                timeout=0,
            )
        )
        process = cls(stub, data_dir, log, **env)
        try:
            process.wait_started(menus_before=before)
        except BaseException:
            process.__exit__(None, None, None)
            raise
        return process

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def handled(self, update_id: int) -> bool:
        """Whether this process finished handling the update (aiogram logs each one, after
        every handler and every reply it sent)."""
        return re.search(rf"Update id={update_id} is (not )?handled", self.log()) is not None

    def stop(self, timeout: float = 60.0) -> int:
        self._forget()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._log.close()
        return code

    def __enter__(self) -> BotProcess:
        return self

    def _forget(self) -> None:
        if self in BotProcess.running:
            BotProcess.running.remove(self)

    def __exit__(self, *exc: Any) -> None:
        self._forget()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


def wait_handled(update_id: int, timeout: float = 60.0) -> None:
    """Block until a running bot process has handled update ``update_id`` (or fail)."""
    deadline = time.monotonic() + timeout
    while not any(bot.handled(update_id) for bot in BotProcess.running):
        if time.monotonic() > deadline:
            logs = "\n".join(bot.log()[-3000:] for bot in BotProcess.running)
            raise AssertionError(f"update {update_id} was not handled in {timeout} s:\n{logs}")
        time.sleep(0.02)
