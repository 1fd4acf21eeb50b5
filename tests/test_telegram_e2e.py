"""The bot end to end: the real aiogram Bot in `python -m bot run`, polling the Bot API stand-in."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.texts import EN
from tests.bot_process import TOKEN, BotProcess, wait_handled
from tests.chat import ask, buttons, next_user_ids, rows, wait_rows
from tests.telegram_stub import BOT_USER, BotApiStub, Call, callback_update, message_update

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bot(stub: BotApiStub, core, data_dir: Path, tmp_path_factory) -> Iterator[BotProcess]:  # type: ignore[no-untyped-def]
    log = tmp_path_factory.mktemp("bot") / "bot.log"
    with BotProcess(stub, data_dir, log) as process:
        process.wait_started()
        yield process
        process.stop()


# --- conversation ----------------------------------------------------------------------------


def test_start_greets_in_chinese_with_example_buttons_and_sets_commands(stub, bot) -> None:  # type: ignore[no-untyped-def]
    (reply,) = ask(stub, "/start")
    assert reply.params["text"].startswith("您好！我是工会问答助手。")
    keyboard = reply.params["reply_markup"]["keyboard"]
    assert len(keyboard) == 3
    assert keyboard[0][0]["text"].endswith("？")
    commands = [c for c in stub.calls if c.method == "setMyCommands"]
    assert {c.params.get("language_code") for c in commands} == {None, "en"}
    assert [cmd["command"] for cmd in commands[0].params["commands"]] == [
        "start",
        "help",
        "forget_me",
    ]


def test_help_explains_the_buttons(stub, bot) -> None:  # type: ignore[no-untyped-def]
    (reply,) = ask(stub, "/help")
    assert "查看原文" in reply.params["text"]
    assert "/forget_me" in reply.params["text"]


def test_a_question_gets_typing_then_the_answer_with_buttons_and_is_stored(
    stub, bot, data_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    user_id = next(next_user_ids)
    since = time.monotonic()
    (reply,) = ask(stub, "在中俄蒙边境口岸打造了多少个货车司机之家？", user_id=user_id)
    typing = [c for c in stub.calls if c.method == "sendChatAction" and c.at >= since]
    assert typing
    assert typing[0].params["action"] == "typing"
    assert typing[0].at <= reply.at
    assert reply.params["parse_mode"] == "HTML"
    assert "<b>答：</b>在中俄蒙边境口岸打造40个货车司机之家" in reply.params["text"]
    assert "<i>出处：《铸魂聚力绘就高质量发展“工”字答卷》以实干担当" in reply.params["text"]
    labels = [b["text"] for b in buttons(reply)]
    assert labels == ["查看原文", "👍", "👎"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons(reply))
    stored = wait_rows(
        data_dir,
        "select q.text, q.answered, q.passage_ids, q.index_version, a.text, u.language "
        "from questions q join answers a on a.question_id = q.id join users u on u.id = q.user_id "
        "where q.user_id = ?",
        user_id,
    )
    assert len(stored) == 1
    text, answered, passage_ids, version, answer_text, language = stored[0]
    assert text == "在中俄蒙边境口岸打造了多少个货车司机之家？"
    assert answered == 1
    assert len(json.loads(passage_ids)) == 5
    assert version.startswith("v")
    assert "40个货车司机之家" in answer_text
    assert language == "zh-hans"


def test_english_users_get_the_english_interface(stub, bot) -> None:  # type: ignore[no-untyped-def]
    (reply,) = ask(
        stub, "How many truck driver homes were built at the border ports?", language="en"
    )
    assert reply.params["text"].startswith("<b>Answer: </b>")
    assert "货车司机之家" in reply.params["text"]  # the quote stays Chinese
    assert [b["text"] for b in buttons(reply)] == ["Sources", "👍", "👎"]


def test_a_reply_is_framed_in_the_language_of_the_question(stub, bot) -> None:  # type: ignore[no-untyped-def]
    """Telegram's own apps have no Chinese, so a Chinese worker's language is often English:
    a question in Chinese is answered in a Chinese frame whatever the app's language, and one
    in English in an English frame; a command follows the app's language."""
    (chinese,) = ask(stub, "边境口岸建了多少个货车司机之家？", language="en")
    assert chinese.params["text"].startswith("<b>答：</b>"), chinese.params["text"]
    (english,) = ask(stub, "How many truck driver homes were built at the border ports?")
    assert english.params["text"].startswith("<b>Answer: </b>"), english.params["text"]
    (help_text,) = ask(stub, "/help", language="en")
    assert help_text.params["text"] == EN.help


def test_unanswerable_question_says_so_with_topics(stub, bot) -> None:  # type: ignore[no-untyped-def]
    (reply,) = ask(stub, "今天天气怎么样？")  # nothing in the question bank is near
    assert reply.params["text"].startswith("抱歉，现有文件里没有找到这个问题的答案")
    assert "\n• " in reply.params["text"]  # what the documents cover
    assert "• 铸魂聚力" not in reply.params["text"]  # in words, not the report's slogans
    assert [b["text"] for b in buttons(reply)] == ["查看原文"]


def test_a_refusal_offers_questions_it_can_answer_as_buttons_that_ask_them(stub, bot) -> None:  # type: ignore[no-untyped-def]
    user_id = next(next_user_ids)
    (reply,) = ask(stub, "司机之家晚上几点关门？", user_id=user_id)  # the hours are not in it
    offered = [b for b in buttons(reply) if b["text"] != "查看原文"]
    if "您可以这样问" not in reply.params["text"]:
        pytest.fail(f"answered or no suggestions: {reply.params['text']!r}")
    assert 1 <= len(offered) <= 3
    assert all(b["callback_data"].startswith("k:") for b in offered)
    _, sent = _press(stub, user_id, offered[0]["callback_data"])
    assert sent[0].params["text"] == f"❓ {offered[0]['text']}"
    assert sent[-1].params["text"].startswith("<b>答：</b>")  # the suggested question is answered


# --- buttons ---------------------------------------------------------------------------------


def _answered(stub: BotApiStub, user_id: int) -> dict[str, str]:
    (reply,) = ask(stub, "蹲点工作组提供了多少次法律援助？", user_id=user_id)
    return {b["text"]: b["callback_data"] for b in buttons(reply)}


def _press(stub: BotApiStub, user_id: int, data: str) -> tuple[Call, list[Call]]:
    since = time.monotonic()
    wait_handled(stub.push(callback_update(user_id, data)))
    (answered,) = stub.wait_for(
        lambda c: c.method == "answerCallbackQuery" and c.at >= since, timeout=15
    )[:1]
    return answered, stub.sent_to(user_id, since)


def test_sources_button_shows_the_full_passages(stub, bot) -> None:  # type: ignore[no-untyped-def]
    user_id = next(next_user_ids)
    data = _answered(stub, user_id)
    _, sent = _press(stub, user_id, data["查看原文"])
    text = "\n".join(c.params["text"] for c in sent)
    assert "<b>原文 1/5</b>" in text
    assert "化解劳动纠纷49件,提供法律援助16次" in text


def test_votes_and_a_comment_after_thumbs_down_are_stored(stub, bot, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    user_id = next(next_user_ids)
    data = _answered(stub, user_id)
    answered, _ = _press(stub, user_id, data["👍"])
    assert answered.params["text"] == "谢谢反馈！"
    _, sent = _press(stub, user_id, data["👎"])  # changes the vote, asks for a comment
    (prompt,) = sent
    assert prompt.params["reply_markup"]["force_reply"] is True
    since = time.monotonic()
    stub.push(
        message_update(
            user_id,
            "没说清楚<找谁>&怎么申请",
            reply_to_message={
                "message_id": prompt.result["message_id"],
                "date": 0,
                "chat": {"id": user_id, "type": "private"},
                "from": BOT_USER,
                "text": "谢谢反馈！",
            },
        )
    )
    stub.wait_for(lambda c: c.method == "sendMessage" and c.at >= since, timeout=15)
    assert stub.sent_to(user_id, since)[0].params["text"] == "已记下您的意见，谢谢！"
    (vote,) = wait_rows(
        data_dir,
        "select vote, comment from feedback where user_id = ? and comment is not null",
        user_id,
    )
    assert vote == (-1, "没说清楚<找谁>&怎么申请")


@pytest.mark.parametrize(
    "data",
    [
        "v:AAAAAAAAAAAAAAAA:1",  # well formed, unknown question
        "s:AAAAAAAAAAAAAAAA",
        "k:AAAAAAAA",  # a suggested question no bank holds
        "v:short:1",  # wrong id shape
        "v:AAAAAAAAAAAAAAAA:maybe",  # does not unpack
        "garbage",
        "",
    ],
)
def test_forged_or_stale_button_data_gets_a_polite_answer(stub, bot, data: str) -> None:  # type: ignore[no-untyped-def]
    answered, sent = _press(stub, next(next_user_ids), data)
    assert answered.params["text"] == "这个按钮已失效，请重新提问。"
    assert sent == []


# --- everything else ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        {
            "sticker": {
                "file_id": "s",
                "file_unique_id": "s",
                "type": "regular",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
            }
        },
        {"photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]},
        {"voice": {"file_id": "v", "file_unique_id": "v", "duration": 1}},
        {"location": {"latitude": 40.8, "longitude": 111.7}},
    ],
)
def test_non_text_messages_get_a_polite_line(stub, bot, content: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    (reply,) = ask(stub, None, **content)
    assert reply.params["text"] == "我目前只能理解文字问题，请直接用文字提问。"


def test_in_groups_the_bot_answers_only_when_addressed(stub, bot) -> None:  # type: ignore[no-untyped-def]
    group = -500_001
    user_id = next(next_user_ids)
    since = time.monotonic()
    stub.push(message_update(user_id, "大家好，今天加班吗", chat_id=group, chat_type="group"))
    stub.push(message_update(user_id, "😀", chat_id=group, chat_type="group", sticker=None))
    (reply,) = ask(
        stub,
        "@union_qa_bot 自治区总工会有几支职工乌兰牧骑？",
        user_id=user_id,
        chat_id=group,
        chat_type="group",
    )
    assert "7支职工乌兰牧骑" in reply.params["text"]
    assert len(stub.sent_to(group, since)) == 1  # nothing for the two messages not addressed
    replied = ask(
        stub,
        "职工乌兰牧骑全年开展了多少场慰问演出？",
        user_id=user_id,
        chat_id=group,
        chat_type="group",
        reply_to_message={
            "message_id": 7,
            "date": 0,
            "chat": {"id": group, "type": "group"},
            "from": BOT_USER,
            "text": "答",
        },
    )
    assert replied
    assert "60场" in replied[0].params["text"]


def test_edited_and_forwarded_messages_are_answered(stub, bot) -> None:  # type: ignore[no-untyped-def]
    (edited,) = ask(stub, "征集了多少项职工创新成果？", kind="edited_message")
    assert "923项" in edited.params["text"]
    (forwarded,) = ask(
        stub,
        "选派了多少名工会干部开展蹲点工作？",
        forward_origin={"type": "hidden_user", "date": 0, "sender_user_name": "老王"},
    )
    assert "选派80名工会干部" in forwarded.params["text"]


def test_channel_posts_get_a_pointer_to_private_chat(stub, bot) -> None:  # type: ignore[no-untyped-def]
    since = time.monotonic()
    stub.push(message_update(1, "频道公告", kind="channel_post", chat_id=-100777))
    (reply,) = stub.wait_for(
        lambda c: c.method == "sendMessage" and c.params["chat_id"] == "-100777" and c.at >= since
    )
    assert reply.params["text"] == "请在与我的私聊中提问。"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "问题是空的"),
        ("   ", "问题是空的"),
        ("😀👍🙏", "没有可以查找的文字"),
        ("工" * 4096, "问题太长了"),
        ("/foo", "没有这个命令"),
        ("/start@another_bot", None),  # for another bot: handled as /start by deep link rules
        ("<b>货车司机之家</b>有几个？", "40个货车司机之家"),
        ("货车司机之家 & 法律援助 <script>", None),
        ("*_[]()~`>#+-=|{}.! 货车司机之家有多少个", "40个货车司机之家"),
        ("\u200f\u202e货车\u200b司机之家有多少个\u200d", "40个货车司机之家"),
    ],
)
def test_bad_input_gets_a_clear_escaped_reply(stub, bot, text: str, expected: str | None) -> None:  # type: ignore[no-untyped-def]
    replies = ask(stub, text)
    assert replies, text
    body = "\n".join(r.params["text"] for r in replies)
    assert all(len(r.params["text"]) <= 4096 for r in replies)
    if expected is not None:
        assert expected in body
    # Only the bot's own markup is HTML; user and corpus text arrive escaped.
    assert set(re.findall(r"</?([a-z]+)", body)) <= {"b", "i"}


def test_forget_me_deletes_what_is_stored_about_the_user(stub, bot, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    user_id = next(next_user_ids)
    _answered(stub, user_id)
    wait_rows(data_dir, "select id from questions where user_id = ?", user_id)
    (reply,) = ask(stub, "/forget_me", user_id=user_id)
    assert reply.params["text"] == "已删除您的 1 条提问以及相关的反馈和记录。"
    assert rows(data_dir, "select id from questions where user_id = ?", user_id) == []
    assert rows(data_dir, "select id from users where id = ?", user_id) == []


def test_flood_control_is_waited_out_and_the_reply_still_arrives(stub, bot) -> None:  # type: ignore[no-untyped-def]
    stub.fail_next("sendMessage", code=429, retry_after=1)
    started = time.monotonic()
    (reply,) = ask(stub, "节水助企行帮助企业解决了多少个问题？")
    assert "20多个问题" in reply.params["text"]
    assert reply.at - started >= 1.0
    assert "flood control" in bot.log()


def test_the_token_never_appears_in_the_log(bot) -> None:  # type: ignore[no-untyped-def]
    assert TOKEN not in bot.log()
    assert TOKEN.split(":")[1] not in bot.log()


def test_a_flood_of_questions_from_one_user_is_throttled_politely(stub, bot) -> None:  # type: ignore[no-untyped-def]
    user_id = next(next_user_ids)
    since = time.monotonic()
    for i in range(14):  # the burst is 10
        stub.push(message_update(user_id, "征集了多少项职工创新成果？", message_id=i + 1))
    stub.wait_for(
        lambda c: (
            c.method == "sendMessage" and c.params["chat_id"] == str(user_id) and c.at >= since
        ),
        count=14,
        timeout=60,
    )
    texts = [c.params["text"] for c in stub.sent_to(user_id, since)]
    assert texts.count("您问得太快了，请稍等几秒再问。") >= 3
    assert sum(t.startswith("<b>答：</b>") for t in texts) >= 10
