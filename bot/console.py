"""The command-line faces of the answering core: ``ask`` (scriptable) and ``chat`` (a person)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import TextIO

from bot.texts import Texts, texts_for
from index import Answer, Context, QuestionAnswerer, TaughtBank

QUIT_WORDS = {"exit", "quit", "q", "退出", "再见"}
CONSOLE_HELP = "工会问答 — 离线控制台（Ctrl-D 或输入 exit 退出；/new 开始新话题）"


def ask(
    answerer: QuestionAnswerer,
    questions: Iterable[str],
    *,
    k: int,
    as_json: bool,
    out: TextIO = sys.stdout,
    taught: TaughtBank | None = None,
) -> int:
    """Answer each question in order, each on its own (not as a dialogue); one JSON object per
    line with ``as_json``."""
    count = 0
    for question in questions:
        (answer,) = answerer.answer_many([question], k, taught=taught)
        if as_json:
            out.write(json.dumps(answer.to_json(), ensure_ascii=False) + "\n")
        else:
            out.write(render(answer, texts_for(None, question)) + "\n\n")
        out.flush()
        count += 1
    return count


def chat(
    answerer: QuestionAnswerer,
    *,
    k: int,
    stdin: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
    taught: TaughtBank | None = None,
) -> None:
    """An interactive console chat on the same core; a follow-up is read with the question
    before it (``/new`` starts afresh)."""
    out.write(f"{CONSOLE_HELP}\n我根据 {answerer.documents} 份文件回答工会服务相关问题。\n\n")
    earlier: tuple[str, Context] | None = None
    while True:
        out.write("问：")
        out.flush()
        line = stdin.readline()
        if not line:
            out.write("\n")
            return
        question = line.rstrip("\n")
        if question.strip().lower() in QUIT_WORDS:
            return
        if question.strip() == "/new":
            earlier = None
            continue
        if question.strip().startswith("/"):
            # A command the console does not have (/help, /start): say which it has, rather
            # than search for it as a question read with the turn before.
            out.write(f"{CONSOLE_HELP}\n\n")
            continue
        context = earlier[1] if earlier else None
        (answer,) = answerer.answer_many([question], k, previous=[context], taught=taught)
        texts = texts_for(None, question)  # the frame in the language asked in
        if answer.read_with is not None and earlier is not None:
            out.write(texts.read_with.format(question=earlier[0]) + "\n")
        out.write(render(answer, texts) + "\n\n")
        if answer.answered:
            earlier = (question, answer.context)


def render(answer: Answer, texts: Texts) -> str:
    """A readable answer: the quote, its section, then where it comes from."""
    if answer.answered:
        citation = answer.citation
        if answer.taught is not None:
            citation = texts.taught_source.format(date=answer.taught.taught_on.isoformat())
        lines = [f"{texts.answer_label}{answer.answer}", f"{texts.source_label}{citation}"]
        for i, source in enumerate(answer.sources[:3], 1):
            text = source.text.replace("\n", "\n      ")  # an article's items, indented
            lines.append(f"  [{i}] {source.citation}：{text}")
        return "\n".join(lines)
    lines = [texts.refusal(answer.reason, ask_instead=bool(answer.ask_instead))]
    lines += [f"  · {line}" for line in answer.ask_instead or answer.suggestions]
    return "\n".join(lines)
