"""Admin commands and uploads end to end: a real `python -m bot run` polling the stand-in, with
its own data folder and corpus copy. The tests run in file order and build on each other (the
reload serves the uploaded document, the rollback returns from it)."""

from __future__ import annotations

import csv
import hashlib
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bot_process import BotProcess, deployment, wait_handled
from tests.chat import ask, rows, wait_rows
from tests.sample_files import docx_bytes, html_bytes, pdf_bytes, zip_bytes
from tests.telegram_stub import (
    BotApiStub,
    Call,
    callback_update,
    document_update,
    message_update,
)

pytestmark = pytest.mark.slow

ADMIN = 777_001
WORKER = 777_002
NEW_FACT_QUESTION = "星光驿站的服务电话是多少？"
NEW_FACT_PHONES = ("0471-6543210", "0472-1112233")  # in the uploaded table only
STATION_TABLE = [
    ["站点", "地址", "服务电话"],
    ["星光驿站呼和浩特站", "新华大街12号", "0471-6543210"],
    ["星光驿站包头站", "钢铁大街8号", "0472-1112233"],
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, converted_model: Path) -> tuple[Path, Path]:
    return deployment(tmp_path_factory.mktemp("admin"), converted_model)


@pytest.fixture(scope="module")
def bot(stub: BotApiStub, site: tuple[Path, Path]) -> Iterator[BotProcess]:
    data_dir, corpus_dir = site
    env = {"ADMINS": f"{ADMIN},999", "PATHS__CORPUS_DIR": str(corpus_dir)}
    with BotProcess(stub, data_dir, data_dir / "bot.log", **env) as process:
        process.wait_started()
        yield process
        assert process.stop() == 0, process.log()


def snapshot(data_dir: Path, corpus_dir: Path) -> dict[str, Any]:
    """Everything an admin command could change on disk."""
    index = data_dir / "index"
    return {
        "corpus": {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in corpus_dir.iterdir()
        },
        "current": (index / "CURRENT").read_text(),
        "versions": sorted(p.name for p in index.iterdir() if p.is_dir()),
    }


def replies(stub: BotApiStub, chat_id: int, since: float, methods: tuple[str, ...]) -> list[Call]:
    return [
        c
        for c in stub.calls
        if c.at >= since
        and c.method in methods
        and c.result is not None
        and int(c.params.get("chat_id", 0)) == chat_id
    ]


def knows_new_fact(reply: Call) -> bool:
    return any(phone in reply.params["text"] for phone in NEW_FACT_PHONES)


def upload(
    stub: BotApiStub, user_id: int, name: str | None, data: bytes, *, size: int | None = None
) -> list[Call]:
    file_id = f"f{time.monotonic_ns()}"
    stub.add_file(file_id, data, size=size)
    since = time.monotonic()
    wait_handled(
        stub.push(document_update(user_id, file_id, name, len(data) if size is None else size))
    )
    return stub.sent_to(user_id, since)


def final_progress_text(stub: BotApiStub, user_id: int, since: float) -> str:
    done = stub.wait_for(
        lambda c: (
            c.method == "editMessageText"
            and c.at >= since
            and int(c.params["chat_id"]) == user_id
            and c.params["text"][:1] in "✅❌"
        ),
        timeout=120,
    )
    assert done, [c.params for c in replies(stub, user_id, since, ("sendMessage",))]
    return str(done[-1].params["text"])


# --- who is admin ------------------------------------------------------------------------------


ADMIN_COMMANDS = [
    "/reload",
    "/rollback",
    "/status",
    "/docs",
    "/remove nmg-trade-unions-2025.txt",
    "/stats",
    "/export",
]


def test_a_non_admin_is_refused_every_admin_command_and_upload_and_nothing_changes(
    stub: BotApiStub, bot: BotProcess, site: tuple[Path, Path]
) -> None:
    data_dir, corpus_dir = site
    before = snapshot(data_dir, corpus_dir)
    since = time.monotonic()
    for command in ADMIN_COMMANDS:
        (reply,) = ask(stub, command, user_id=WORKER)
        assert reply.params["text"] == "抱歉，这个命令只有管理员可以使用。", command
    (reply,) = upload(stub, WORKER, "notice.docx", docx_bytes("通知", ["工会通知。"]))
    assert reply.params["text"].startswith("抱歉，只有管理员可以添加文件。")
    button = stub.push(callback_update(WORKER, "adm:reload"))
    (alert,) = stub.wait_for(
        lambda c: c.method == "answerCallbackQuery" and c.at >= since, timeout=10
    )
    assert alert.params["text"] == "抱歉，这个命令只有管理员可以使用。"
    assert alert.params["show_alert"] in (True, "true")  # form fields arrive as text

    events = wait_rows(
        data_dir,
        "select action, allowed from admin_events where user_id = ? order by id",
        WORKER,
        count=len(ADMIN_COMMANDS) + 2,
    )
    expected = [c.split()[0] for c in ADMIN_COMMANDS] + ["upload", "button:adm:reload"]
    assert events == [(action, 0) for action in expected]
    assert not [c for c in stub.calls if c.at >= since and c.method == "getFile"]
    wait_handled(button)  # a reload, had one started, would have finished with the handler
    assert snapshot(data_dir, corpus_dir) == before
    assert not replies(stub, WORKER, since, ("editMessageText", "sendPhoto", "sendDocument"))


def test_the_audit_log_keeps_no_phone_id_or_card_number(
    stub: BotApiStub, bot: BotProcess, site: tuple[Path, Path]
) -> None:
    data_dir, _ = site
    personal = "13812345678 110101199003071234 6222 0212 3456 7890 zhang@example.com"
    (reply,) = ask(stub, f"/status {personal}", user_id=WORKER + 1)
    assert reply.params["text"] == "抱歉，这个命令只有管理员可以使用。"
    ((detail,),) = wait_rows(
        data_dir, "select detail from admin_events where user_id = ?", WORKER + 1
    )
    assert detail == "/status [phone] [ID number] [card number] [email]"


def test_in_a_group_admin_commands_are_refused_even_for_admins(
    stub: BotApiStub, bot: BotProcess, site: tuple[Path, Path]
) -> None:
    data_dir, _ = site
    group = -100_777
    (reply,) = ask(stub, "/stats", user_id=ADMIN, chat_id=group, chat_type="group")
    assert reply.params["text"] == "管理命令只能在与我的私聊中使用。"
    (reply,) = ask(stub, "/reload", user_id=WORKER, chat_id=group, chat_type="group")
    assert reply.params["text"] == "抱歉，这个命令只有管理员可以使用。"
    events = wait_rows(
        data_dir,
        "select user_id, action, allowed, detail from admin_events where detail like ?",
        f"in group chat {group}:%",
        count=2,
    )
    assert [(u, a, ok) for u, a, ok, _ in events] == [(ADMIN, "/stats", 0), (WORKER, "/reload", 0)]
    assert not [c for c in stub.calls if c.method == "sendPhoto"]


def test_the_admin_menu_is_set_for_admins_only(stub: BotApiStub, bot: BotProcess) -> None:
    scoped = [
        c for c in stub.calls if c.method == "setMyCommands" and c.params.get("scope") is not None
    ]
    assert {c.params["scope"]["chat_id"] for c in scoped} == {ADMIN, 999}
    names = [cmd["command"] for cmd in scoped[0].params["commands"]]
    assert {"reload", "rollback", "status", "docs", "remove", "stats", "export"} <= set(names)


# --- status, documents -------------------------------------------------------------------------


def test_status_shows_the_serving_version_its_documents_and_counts(
    stub: BotApiStub, bot: BotProcess, site: tuple[Path, Path]
) -> None:
    data_dir, _ = site
    (reply,) = ask(stub, "/status", user_id=ADMIN)
    text = reply.params["text"]
    current = (data_dir / "index" / "CURRENT").read_text().strip()
    assert text.startswith(f"当前版本：{current}\n建立于 ")
    assert "共 32 段，1 个文件" in text
    assert "铸魂聚力绘就高质量发展“工”字答卷（nmg-trade-unions-2025.txt，32 段）" in text
    assert "尚未生效" not in text
    (english,) = ask(stub, "/status", user_id=ADMIN, language="en")
    assert english.params["text"].startswith(f"Serving: {current}\nBuilt ")
    assert "32 passages from 1 documents" in english.params["text"]


def test_faulty_uploads_are_refused_with_the_reason_and_nothing_is_stored(
    stub: BotApiStub, bot: BotProcess, site: tuple[Path, Path]
) -> None:
    data_dir, corpus_dir = site
    before = snapshot(data_dir, corpus_dir)
    good_docx = docx_bytes("通知", ["工会通知全体职工。"])
    cases: list[tuple[str | None, bytes, int | None, str]] = [
        (
            "broken.docx",
            good_docx[: len(good_docx) // 2],
            None,
            "Word 文档（.docx）已损坏，无法读取",
        ),
        ("broken.pdf", pdf_bytes(["工会通知。"])[:400], None, "PDF 文件已损坏，无法读取"),
        ("report.pdf", good_docx, None, "它其实是Word 文档（.docx），而不是PDF 文件"),
        ("report.docx", zip_bytes(), None, "它其实是ZIP 压缩包，而不是Word 文档（.docx）"),
        ("notes.txt", b"\x00\x01\x02binary\xff" * 50, None, "它其实是二进制数据，而不是纯文本"),
        ("empty.txt", b"   \n\n", None, "文件是空的"),
        ("page.html", b"no tags here at all", None, "它其实是纯文本，而不是HTML 网页"),
        ("setup.exe", b"MZ\x90\x00", None, "不支持这种文件（.exe）"),
        (None, b"hello", None, "不支持这种文件（没有扩展名）"),
        ("huge.pdf", b"%PDF-1.4 tiny", 100 * 1024 * 1024, "文件太大（100.0 MB），上限是 20.0 MB"),
    ]
    since = time.monotonic()
    for name, data, size, reason in cases:
        (reply,) = upload(stub, ADMIN, name, data, size=size)
        assert reason in reply.params["text"], (name, reply.params["text"])
        assert "reply_markup" not in reply.params  # no reload offered
    downloads = [c for c in stub.calls if c.at >= since and c.method == "getFile"]
    assert len(downloads) == 7  # not for the unsupported names, nor for the 100 MB file
    assert snapshot(data_dir, corpus_dir) == before


def test_an_uploaded_docx_keeps_its_table_as_rows_and_a_reload_is_offered(
    stub: BotApiStub, bot: BotProcess, site: tuple[Path, Path]
) -> None:
    _, corpus_dir = site
    data = docx_bytes(
        "星光驿站服务指南",
        ["自治区总工会在呼和浩特和包头新建了星光驿站，为户外劳动者提供饮水、休息和充电服务。"],
        STATION_TABLE,
    )
    (reply,) = upload(stub, ADMIN, "星光驿站.docx", data)
    text = reply.params["text"]
    assert text.startswith("✅ 已保存 星光驿站.docx\n标题：星光驿站服务指南\n")
    assert "表格 2 行" in text
    (button,) = reply.params["reply_markup"]["inline_keyboard"][0]
    assert button["text"] == "🔄 重建索引"
    assert (corpus_dir / "星光驿站.docx").read_bytes() == data
    (again,) = upload(stub, ADMIN, "星光驿站.docx", data)
    assert again.params["text"] == "ℹ️ 星光驿站.docx 与已有文件完全相同，未做改动。"


def test_docs_lists_documents_and_what_is_not_yet_served(stub: BotApiStub, bot: BotProcess) -> None:
    (reply,) = ask(stub, "/docs", user_id=ADMIN)
    lines = reply.params["text"].splitlines()
    assert lines[0] == "文件夹中的文件："
    assert lines[1].startswith("1. nmg-trade-unions-2025.txt（")
    assert lines[1].endswith("✅ 已生效")
    assert lines[2].startswith("2. 星光驿站.docx（")
    assert lines[2].endswith("⏳ 尚未生效")


# --- reload, rollback --------------------------------------------------------------------------


def test_reload_reports_progress_in_one_message_then_serves_the_new_document(
    stub: BotApiStub, bot: BotProcess, site: tuple[Path, Path]
) -> None:
    data_dir, _ = site
    (before,) = ask(stub, NEW_FACT_QUESTION, user_id=WORKER)
    assert not knows_new_fact(before)
    old = (data_dir / "index" / "CURRENT").read_text().strip()

    since = time.monotonic()
    stub.push(callback_update(ADMIN, "adm:reload"))
    (started,) = stub.wait_sent(ADMIN, since)[:1]
    assert started.params["text"].startswith("⏳ 正在重建索引")
    progress_id = started.result["message_id"]

    def progress_edit(c: Call) -> bool:
        return (
            c.method == "editMessageText"
            and c.at >= since
            and c.result is not None
            and int(c.params["chat_id"]) == ADMIN
            and int(c.params["message_id"]) == progress_id
        )

    assert stub.wait_for(progress_edit, timeout=60)  # the build is under way
    # A second /reload while the first builds is refused, and the first goes on.
    second_since = time.monotonic()
    wait_handled(stub.push(message_update(ADMIN, "/reload")))
    second = [e for e in replies(stub, ADMIN, second_since, ("editMessageText",))]
    second = [e for e in second if int(e.params["message_id"]) != progress_id]
    assert second, "the second /reload got no answer"
    assert second[-1].params["text"].startswith("❌ 重建失败，仍在使用版本 " + old)
    assert "already running" in second[-1].params["text"]

    assert stub.wait_for(lambda c: progress_edit(c) and c.params["text"][:1] in "✅❌", timeout=120)
    edits = [c for c in stub.calls if progress_edit(c)]
    final = edits[-1].params["text"]
    assert final.startswith("✅ 已切换到新版本 v"), final
    assert "2 个文件" in final
    assert f"上一版本：{old}" in final
    assert any("计算" in e.params["text"] or "加载模型" in e.params["text"] for e in edits)

    new = (data_dir / "index" / "CURRENT").read_text().strip()
    assert new != old
    assert new in final
    (after,) = ask(stub, NEW_FACT_QUESTION, user_id=WORKER)
    assert knows_new_fact(after)
    assert "服务电话：" in after.params["text"]
    switches = wait_rows(
        data_dir, "select version_id, action, actor from serving_versions where action = 'reload'"
    )
    assert switches == [(new, "reload", f"telegram:{ADMIN}")]
    audit = wait_rows(
        data_dir, "select detail from admin_events where action = 'reload:done' and allowed = 1"
    )
    assert audit == [(f"{old} -> {new}",)]


def test_rollback_returns_to_the_previous_version(
    stub: BotApiStub, bot: BotProcess, site: tuple[Path, Path]
) -> None:
    data_dir, _ = site
    serving = (data_dir / "index" / "CURRENT").read_text().strip()
    (reply,) = ask(stub, "/rollback", user_id=ADMIN)
    assert reply.params["text"].startswith("↩️ 已返回版本 v"), reply.params["text"]
    assert f"之前是 {serving}" in reply.params["text"]
    back = (data_dir / "index" / "CURRENT").read_text().strip()
    assert back != serving
    (answer,) = ask(stub, NEW_FACT_QUESTION, user_id=WORKER)
    assert not knows_new_fact(answer)
    (status,) = ask(stub, f"/rollback {serving}", user_id=ADMIN)  # forward again, by name
    assert status.params["text"].startswith(f"↩️ 已返回版本 {serving}")
    (answer,) = ask(stub, NEW_FACT_QUESTION, user_id=WORKER)
    assert knows_new_fact(answer)
    (unknown,) = ask(stub, "/rollback v-nonexistent", user_id=ADMIN)
    assert unknown.params["text"].startswith(f"❌ 无法回退，仍在使用版本 {serving}。")


def test_pdf_and_html_uploads_are_read_into_paragraphs_and_table_rows(
    stub: BotApiStub, bot: BotProcess, site: tuple[Path, Path]
) -> None:
    _, corpus_dir = site
    pdf = pdf_bytes(
        [
            "职工疗休养",
            "今年全区工会组织一线职工疗休养三千二百人次，重点面向劳动模范和困难职工家庭。",
        ]
    )
    (reply,) = upload(stub, ADMIN, "疗休养.pdf", pdf)
    # The 38-character sentence was printed on two lines; it comes back as one paragraph.
    assert reply.params["text"].startswith("✅ 已保存 疗休养.pdf\n标题：职工疗休养\n1 段，38 字")
    page = html_bytes(
        "<h1>职工书屋</h1><p>全区建成职工书屋\n<b>500</b>家。</p>"
        "<table><tr><th>盟市</th><th>书屋数量</th></tr><tr><td>包头市</td><td>80</td></tr></table>"
    )
    (reply,) = upload(stub, ADMIN, "书屋.html", page)
    assert reply.params["text"].startswith("✅ 已保存 书屋.html\n标题：职工书屋\n")
    assert "表格 1 行" in reply.params["text"]
    assert (corpus_dir / "疗休养.pdf").exists()
    assert (corpus_dir / "书屋.html").exists()


def test_remove_moves_a_document_to_the_trash_and_offers_a_reload(
    stub: BotApiStub, bot: BotProcess, site: tuple[Path, Path]
) -> None:
    data_dir, corpus_dir = site
    (usage,) = ask(stub, "/remove", user_id=ADMIN)
    assert usage.params["text"].startswith("用法：/remove")
    (missing,) = ask(stub, "/remove ../config.toml", user_id=ADMIN)
    assert (
        missing.params["text"]
        == "❌ 无法移除：文件夹里没有“../config.toml”（用 /docs 查看文件列表）"
    )
    (reply,) = ask(stub, "/remove 书屋.html", user_id=ADMIN)
    assert reply.params["text"].startswith("🗑 已移除 书屋.html")
    assert reply.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "adm:reload"
    assert not (corpus_dir / "书屋.html").exists()
    (trashed,) = (data_dir / "removed-documents").glob("*书屋.html")
    assert trashed.read_bytes().startswith(b"<!DOCTYPE html>")
    (status,) = ask(stub, "/status", user_id=ADMIN)
    assert "⚠️ 文件夹有尚未生效的改动：\n• 新增或修改：疗休养.pdf" in status.params["text"]


def test_a_reload_of_an_empty_corpus_fails_and_the_old_version_keeps_serving(
    stub: BotApiStub, bot: BotProcess, site: tuple[Path, Path]
) -> None:
    data_dir, corpus_dir = site
    serving = (data_dir / "index" / "CURRENT").read_text().strip()
    for name in ("nmg-trade-unions-2025.txt", "星光驿站.docx", "疗休养.pdf"):
        (reply,) = ask(stub, f"/remove {name}", user_id=ADMIN)
        assert reply.params["text"].startswith(f"🗑 已移除 {name}")
    (empty,) = ask(stub, "/docs", user_id=ADMIN)
    assert "文件夹里没有文件" in empty.params["text"] or "已删除但仍在使用" in empty.params["text"]
    since = time.monotonic()
    stub.push(message_update(ADMIN, "/reload"))
    final = final_progress_text(stub, ADMIN, since)
    assert final.startswith(f"❌ 重建失败，仍在使用版本 {serving}。\n原因：the corpus folder")
    assert "has no documents" in final
    assert (data_dir / "index" / "CURRENT").read_text().strip() == serving
    assert not list((data_dir / "index").glob(".building-*"))
    (answer,) = ask(stub, NEW_FACT_QUESTION, user_id=WORKER)
    assert knows_new_fact(answer)
    for trashed in (data_dir / "removed-documents").iterdir():  # put the corpus back
        trashed.rename(corpus_dir / trashed.name.split("-", 2)[2])


# --- stats -------------------------------------------------------------------------------------


def test_stats_sends_a_chart_and_a_summary_and_export_a_csv_of_unanswered_questions(
    stub: BotApiStub, bot: BotProcess, site: tuple[Path, Path]
) -> None:
    data_dir, _ = site
    for _ in range(3):
        ask(stub, "怎么做红烧肉？", user_id=WORKER)
    ask(stub, "今天股票行情如何？", user_id=WORKER)
    wait_rows(data_dir, "select id from questions where text like '今天股票%'")
    total, answered = rows(data_dir, "select count(*), sum(answered) from questions")[0]
    since = time.monotonic()
    ask(stub, "/stats", user_id=ADMIN)
    (photo,) = stub.wait_for(lambda c: c.method == "sendPhoto" and c.at >= since)
    png = photo.params["photo"].data
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 10_000
    caption = photo.params["caption"]
    assert caption.startswith(f"最近 30 天：{total} 个问题，回答了 {answered}（")
    top = [c for c in stub.sent_to(ADMIN, since) if c.params["text"].startswith("最常见的未回答")]
    assert "\n1. 怎么做红烧肉 ×3\n" in top[0].params["text"]
    assert "今天股票行情如何 ×1" in top[0].params["text"]

    since = time.monotonic()
    ask(stub, "/export", user_id=ADMIN)
    (sent,) = stub.wait_for(lambda c: c.method == "sendDocument" and c.at >= since)
    assert sent.params["document"].filename.startswith("unanswered-")
    table = list(csv.reader(io.StringIO(sent.params["document"].data.decode("utf-8-sig"))))
    assert table[0] == ["asked_at_utc", "question", "index_version"]
    questions = [row[1] for row in table[1:]]
    assert questions.count("怎么做红烧肉？") == 3
    assert "今天股票行情如何？" in questions
    unanswered = rows(
        data_dir,
        "select count(*) from questions where answered = 0 and reason = ?",
        "not_in_documents",
    )[0][0]
    assert len(table) - 1 == unanswered
