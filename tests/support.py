"""Helpers shared by the tests: the shipped report and the question set."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
REPORT = REPO / "corpus" / "nmg-trade-unions-2025.txt"
REPORT_ONLY = REPO / "eval" / "report-only"  # the report alone (a link to it)
LAW_QUESTIONS = REPO / "eval" / "laws.jsonl"
QUESTIONS = REPO / "eval" / "questions.jsonl"


def start_reload(env: dict[str, str], **streams: Any) -> subprocess.Popen[str]:
    """``python -m bot reload --json`` from the repository, as an admin's shell or a running bot
    starts it (progress and result as JSON lines on its stdout); ``streams`` redirect it."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "reload", "--json"], env=env, cwd=REPO, text=True, **streams
    )


def report_paragraphs() -> list[str]:
    """Every non-empty line of the report as shipped (before any repair)."""
    lines = REPORT.read_text("utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


def question_set() -> list[dict[str, object]]:
    return [json.loads(line) for line in QUESTIONS.read_text("utf-8").splitlines() if line]


def require_service(name: str, host: str, port: int) -> None:
    """Skip, loudly, when a service the test needs is not reachable; under CI (CI=true) its
    absence fails the run instead, so a green CI always means these tests ran."""
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        message = f"{name} at {host}:{port} is not reachable ({exc!r})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must run the tests that need it", pytrace=False)
        pytest.skip(f"NOT RUN: {message}; start it to run these tests (see README)")
