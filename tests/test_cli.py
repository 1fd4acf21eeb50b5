"""``python -m bot ask`` as other tools use it: real processes, exact JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bot_process import link_models, run_bot

pytestmark = pytest.mark.slow
KEYS = ["question", "answered", "answer", "sources", "latency_ms", "version"]


def _bot(args: list[str], data_dir: Path, stdin: str = "", corpus: Path | None = None):  # type: ignore[no-untyped-def]
    env = {"DATA_DIR": str(data_dir)}
    if corpus is not None:
        env["PATHS__CORPUS_DIR"] = str(corpus)
    return run_bot(*args, env=env, stdin=stdin)


def test_ask_json_reads_stdin_and_prints_one_object_per_question(core, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    questions = [
        "在中俄蒙边境口岸打造了多少个货车司机之家？",
        "",
        "明天天气怎么样？",
        "😀",
        "工" * 1001,
        "What is the capital of France?",
    ]
    done = _bot(["ask", "--json", "-k", "3"], data_dir, stdin="\n".join(questions) + "\n")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(questions)
    objects = [json.loads(line) for line in lines]
    serving = (data_dir / "index" / "CURRENT").read_text().strip()
    for question, obj in zip(questions, objects, strict=True):
        assert list(obj)[: len(KEYS)] == KEYS
        assert obj["version"] == serving
        assert obj["question"] == question
        assert isinstance(obj["latency_ms"], float)
        assert obj["latency_ms"] >= 0
        for source in obj["sources"]:
            assert set(source) == {"text", "document", "section", "score"}
    first, empty, weather, emoji, long, trivia = objects
    assert first["answered"]
    assert "40个货车司机之家" in first["answer"]
    assert len(first["sources"]) == 3
    assert [s["score"] for s in first["sources"]] == sorted(
        (s["score"] for s in first["sources"]), reverse=True
    )
    assert "reason" not in first
    for off_topic in (weather, trivia):
        assert off_topic["answered"] is False
        assert off_topic["reason"] == "not_in_documents"
        assert len(off_topic["sources"]) == 3  # the nearest passages, shown all the same
    codes = {"empty": empty, "unsearchable": emoji, "too_long": long}
    for code, refused in codes.items():
        assert refused["answered"] is False
        assert refused["reason"] == code
        assert refused["message"]  # the reason as a sentence, for people reading the JSON
        assert refused["sources"] == []


def test_ask_with_a_question_argument_prints_a_readable_answer(core, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    done = _bot(["ask", "自治区总工会有几支职工乌兰牧骑？"], data_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("答：")
    assert "7支职工乌兰牧骑" in done.stdout
    assert "出处：" in done.stdout


def test_chat_answers_each_line_until_end_of_input(core, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    done = _bot(["chat"], data_dir, stdin="蹲点工作提供了多少次法律援助？\nexit\n")
    assert done.returncode == 0, done.stderr
    assert "提供法律援助16次" in done.stdout


def test_empty_corpus_is_a_clear_error_when_an_index_must_be_built(
    tmp_path: Path, converted_model: Path
) -> None:
    data_dir = tmp_path / "data"
    link_models(data_dir, converted_model)
    (tmp_path / "empty").mkdir()
    done = _bot(["ask", "--json", "工会"], data_dir, corpus=tmp_path / "empty")
    assert done.returncode == 2
    assert f"error: the corpus folder {tmp_path / 'empty'} has no documents" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (data_dir / "index" / "CURRENT").exists()


def test_a_changed_corpus_is_served_only_after_a_reload(
    core, data_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    current = (data_dir / "index" / "CURRENT").read_text()
    done = _bot(["ask", "--json", "工会提供了多少次法律援助？"], data_dir, corpus=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["answered"] is True  # from the version already built
    assert "the corpus has changed since index" in done.stderr
    assert "reload to serve the changes" in done.stderr
    assert (data_dir / "index" / "CURRENT").read_text() == current
