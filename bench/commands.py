"""The public commands, driven as a user and an admin run them, for the benchmarks:
``python -m bot reload --json`` and ``python -m bot ask --json`` (questions on stdin)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import REPO, start_reload


@dataclass(frozen=True)
class ReloadRun:
    seconds: float  # from the command's start to its exit (model load included)
    result: dict[str, Any]  # the "done" event's result (version_id, passages, ...)
    peak_mb: float  # the command's peak resident memory


def reload(env: dict[str, str]) -> ReloadRun:
    """Run ``python -m bot reload --json`` to its end; exit on failure with its stderr."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = start_reload(env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own peak memory
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise SystemExit(f"reload failed ({process.returncode}): {stderr[-2000:]}")
    done = json.loads(stdout.strip().splitlines()[-1])
    return ReloadRun(seconds, done.get("result", done), usage.ru_maxrss / 1024)


class AskProcess:
    """``python -m bot ask --json`` with a pipe on each side: one question in, one answer out."""

    def __init__(self, env: dict[str, str]):
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "ask", "--json"],
            env=env,
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )

    def ask(self, question: str) -> tuple[float, dict[str, Any]]:
        """(seconds from writing the question to reading its answer, the answer)."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        sent = time.perf_counter()
        self.process.stdin.write(question.replace("\n", " ") + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"ask --json exited ({self.process.wait()}) before answering")
        return time.perf_counter() - sent, json.loads(line)

    def peak_mb(self) -> float:
        """The process's peak resident memory so far (VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise SystemExit("no VmHWM in /proc (Linux only)")

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def eval_questions() -> list[str]:
    """Every question of eval/ (the report's and the laws')."""
    from tests.support import LAW_QUESTIONS, question_set

    return [str(q["question"]) for q in question_set()] + [
        json.loads(line)["question"] for line in LAW_QUESTIONS.read_text("utf-8").splitlines()
    ]


def data_env(data_dir: Path, corpus_dir: Path) -> dict[str, str]:
    return {**os.environ, "DATA_DIR": str(data_dir), "PATHS__CORPUS_DIR": str(corpus_dir)}


def report(figures: list[tuple[str, float, float, str]]) -> None:
    """Print each (what, measured, target, unit) beside its target; exit 1 if one is missed."""
    print("commands: python -m bot reload --json; python -m bot ask --json (stdin questions)")
    missed = [what for what, measured, target, _ in figures if measured > target]
    for what, measured, target, unit in figures:
        verdict = "MISSED" if what in missed else "ok"
        print(f"{what:62s} {measured:8.2f} {unit:3s} target <= {target} {unit}  {verdict}")
    if missed:
        raise SystemExit(f"{len(missed)} target(s) missed")
