"""Small pieces of the Telegram face, exactly: splitting, escaping, throttling, settings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from bot.redaction import redact_personal, storable
from bot.settings import Settings
from bot.telegram.formatting import (
    TELEGRAM_LIMIT,
    answer_blocks,
    fit_message,
    source_blocks,
    split_messages,
    telegram_length,
)
from bot.telegram.middlewares import Throttling
from bot.telegram.state import FailSoftStorage, StateUnavailableError
from bot.texts import EN, ZH, texts_for
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


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("en", "加班费怎么算", ZH),  # a Chinese worker on an English app asks in Chinese
        ("zh-hans", "How is overtime pay calculated?", EN),
        (None, "Can my boss fire me without notice?", EN),
        ("en", "/help", EN),  # a command follows the app's language
        ("zh-hans", "/start", ZH),
        ("en", "😀😀", EN),  # nothing to read a language from
        ("ru", None, ZH),  # a file, a button: Chinese unless the app is English
    ],
)
def test_a_reply_is_framed_in_the_language_of_the_message(
    language: str | None, text: str | None, expected: object
) -> None:
    assert texts_for(language, text) is expected


# --- every message fits, whatever sends it --------------------------------------------------


def test_any_message_is_fitted_under_the_limit_without_breaking_html() -> None:
    paragraphs = [f"<b>第{i}段</b>" + "工会" * 700 for i in range(6)]
    parts = fit_message("\n\n".join(paragraphs), html=True)
    assert len(parts) > 1
    assert all(telegram_length(text) <= TELEGRAM_LIMIT for text, _ in parts)
    assert all(html and text.count("<b>") == text.count("</b>") for text, html in parts)
    assert "".join(text for text, _ in parts).count("工会") == 6 * 700


def test_one_paragraph_too_long_for_a_message_goes_as_plain_text_pieces() -> None:
    text = "/remove " + "<b>" + "工&amp;" * 3000 + "</b>"
    parts = fit_message(text, html=True)
    assert all(telegram_length(t) <= TELEGRAM_LIMIT for t, _ in parts)
    assert not any(html for _, html in parts)  # tags dropped, entities unescaped
    assert "".join(t for t, _ in parts) == "/remove " + "工&" * 3000


def test_emoji_count_twice_as_telegram_counts() -> None:
    assert telegram_length("😀工") == 3
    parts = fit_message("😀" * 3000, html=False)
    assert all(telegram_length(t) <= TELEGRAM_LIMIT for t, _ in parts)


# --- personal data ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("电话13812345678找我", "电话[phone]找我"),
        ("+86 138-1234-5678", "[phone]"),
        ("座机0471-6281234", "座机[phone]"),
        ("身份证11010519491231002X", "身份证[ID number]"),
        ("卡号6222 0212 3456 7890 123", "卡号[card number]"),
        ("邮箱wang.li@example.com.cn", "邮箱[email]"),
        # numbers that are not personal stay: years, amounts, article numbers, dates
        ("2025年最低工资2270元，第四十七条", "2025年最低工资2270元，第四十七条"),
        ("工作了12个月，20250101入职", "工作了12个月，20250101入职"),
    ],
)
def test_personal_numbers_are_redacted_and_others_kept(text: str, stored: str) -> None:
    assert redact_personal(text) == stored


def test_text_is_made_storable_in_any_database() -> None:
    assert storable("工会\x00法律\ud800援助") == "工会法律\ufffd援助"


# --- state that fails soft --------------------------------------------------------------------


class _DownStorage(BaseStorage):
    calls = 0

    async def _down(self) -> None:
        _DownStorage.calls += 1
        raise ConnectionError("Redis is down")

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._down()

    async def get_state(self, key: StorageKey) -> str | None:
        await self._down()
        return None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._down()

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        await self._down()
        return {}

    async def close(self) -> None:
        await self._down()


async def test_a_state_store_that_is_down_reads_as_empty_and_refuses_writes_clearly() -> None:
    storage = FailSoftStorage(_DownStorage(), rest_s=60)
    key = StorageKey(bot_id=1, chat_id=2, user_id=2)
    assert await storage.get_state(key) is None
    assert await storage.get_data(key) == {}
    with pytest.raises(StateUnavailableError):
        await storage.set_state(key, "Comment:waiting")
    assert _DownStorage.calls == 1  # after one failure it is left alone while it rests
    await storage.close()  # never raises
