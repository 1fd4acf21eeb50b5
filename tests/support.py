"""Helpers shared by the tests: the shipped report and the question set."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REPORT = REPO / "corpus" / "nmg-trade-unions-2025.txt"
QUESTIONS = REPO / "eval" / "questions.jsonl"


def report_paragraphs() -> list[str]:
    """Every non-empty line of the report as shipped (before any repair)."""
    lines = REPORT.read_text("utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


def question_set() -> list[dict[str, object]]:
    return [json.loads(line) for line in QUESTIONS.read_text("utf-8").splitlines() if line]
