"""Small pieces of the Telegram face, exactly: splitting, escaping, throttling, settings."""

from __future__ import annotations

import re

import pytest

from bot.settings import Settings
from bot.telegram.formatting import TELEGRAM_LIMIT, answer_blocks, source_blocks, split_messages
from bot.telegram.middlewares import Throttling
from bot.texts import EN, ZH
from index import Answer, Reason, Source


def _source(text: str, section: str = "第一部分") -> Source:
    return Source("c1", "doc.txt", "文件", section, text, "paragraph", 1.0)


def test_long_sources_split_between_paragraphs_under_the_limit() -> None:
    passages = [_source("工会" * 1500 + "。" + "法律援助" * 800), _source("短段落。")]
    messages = split_messages(source_blocks(passages, ZH))
    assert len(messages) > 1
    assert all(len(m) <= TELEGRAM_LIMIT for m in messages)
    plain = "".join(re.sub(r"<[^>]+>", "", m).replace("\n", "") for m in messages)
    assert ("工会" * 1500 + "。" + "法律援助" * 800) in plain  # nothing lost or cut mid-piece
    assert all(m.count("<b>") == m.count("</b>") for m in messages)  # every message balanced


def test_user_and_corpus_text_is_escaped() -> None:
    answer = Answer("q", True, "<b>40个</b> & 1<2", "节 <i>", (_source("<script>"),), "v1")
    html = "\n".join(answer_blocks(answer, ZH) + source_blocks(answer.sources, EN))
    assert "&lt;b&gt;40个&lt;/b&gt; &amp; 1&lt;2" in html
    assert "&lt;script&gt;" in html
    assert "节 &lt;i&gt;" in html
    assert set(re.findall(r"</?([a-z]+)", html)) <= {"b", "i"}


def test_throttling_allows_a_burst_then_the_rate() -> None:
    throttle = Throttling(burst=3, rate=1000.0)
    assert [throttle.allow(1) for _ in range(3)] == [True, True, True]
    slow = Throttling(burst=2, rate=0.001)
    assert [slow.allow(7) for _ in range(3)] == [True, True, False]
    assert slow.allow(8) is True  # per user


def test_the_documented_environment_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    monkeypatch.setenv("TELEGRAM_API_BASE", "http://127.0.0.1:9")
    monkeypatch.setenv("ADMINS", "11, 22,33")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1/db")
    monkeypatch.setenv("DATA_DIR", "/srv/data")
    settings = Settings.load()
    assert settings.telegram.token is not None
    assert settings.telegram.token.get_secret_value() == "123:abc"
    assert "123:abc" not in repr(settings)
    assert settings.telegram.api_base == "http://127.0.0.1:9"
    assert settings.admin.ids == [11, 22, 33]
    assert settings.database.url is not None
    assert str(settings.paths.data_dir) == "/srv/data"


@pytest.mark.parametrize("texts", [ZH, EN])
def test_every_reason_code_reads_as_words_in_both_languages(texts) -> None:  # type: ignore[no-untyped-def]
    for reason in Reason:
        line = texts.refusal(reason)
        assert line, reason
        assert "_" not in line, reason
    assert texts.refusal(Reason.NOT_IN_DOCUMENTS) == texts.not_answered
    assert len({texts.refusal(r) for r in Reason}) == len(Reason)  # each says something else
