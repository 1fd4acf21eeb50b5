"""Load through the real polling path: `python -m bot run` against the Bot API stand-in.

100 simulated users each ask 10 questions, one after another (a worker waits for the reply
before asking again) and press 👍 on every answered one. Prints answered questions per second,
update-to-reply latency p50/p99, errors, and the rows stored.
Targets on the 2-core machine (issue 4): >= 30 answered/s, p99 <= 2 s, 0 errors, all stored.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.stats import percentile_ms, provision_model_in_child
from tests.bot_process import BotProcess
from tests.support import question_set
from tests.telegram_stub import BotApiStub, Call, callback_update, message_update

USERS = 100
QUESTIONS_EACH = 10
TIMEOUT_S = 300.0
FIRST_USER = 700_000


@dataclass
class Worker:
    user_id: int
    asked: int = 0
    pushed_at: float = 0.0
    latencies: list[float] = field(default_factory=list)
    votes: int = 0


def run() -> None:
    questions = [str(q["question"]) for q in question_set() if q["kind"] != "unanswerable"]
    with tempfile.TemporaryDirectory(prefix="bench-telegram-") as tmp:
        data_dir = Path(tmp)
        provision_model_in_child(data_dir)
        stub = BotApiStub()
        stub.start()
        # Throttling is per user; these workers ask one question at a time, far below it.
        with BotProcess(stub, data_dir, data_dir / "bot.log") as bot:
            bot.wait_started(timeout=300)
            result = _drive(stub, questions)
            code = bot.stop(timeout=120)
        stub.stop()
        _report(result, data_dir / "bot.sqlite3", code)


@dataclass
class LoadResult:
    workers: list[Worker]
    elapsed: float
    errors: list[str]


def _drive(stub: BotApiStub, questions: list[str]) -> LoadResult:
    workers = {FIRST_USER + i: Worker(FIRST_USER + i) for i in range(USERS)}
    errors: list[str] = []
    seen = len(stub.calls)
    started = time.monotonic()
    for worker in workers.values():
        ask_next(stub, worker, questions)
    waiting = set(workers)
    while waiting and time.monotonic() - started < TIMEOUT_S:
        calls = stub.calls[seen:]
        seen += len(calls)
        for call in calls:
            if call.method != "sendMessage" or call.result is None:
                continue
            worker = workers.get(int(call.params["chat_id"]))
            if worker is None or worker.user_id not in waiting:
                continue
            worker.latencies.append(call.at - worker.pushed_at)
            if "出了点问题" in call.params["text"] or "问得太快" in call.params["text"]:
                errors.append(f"user {worker.user_id}: {call.params['text'][:40]}")
            _vote(stub, worker, call)
            if worker.asked < QUESTIONS_EACH:
                ask_next(stub, worker, questions)
            else:
                waiting.discard(worker.user_id)
        time.sleep(0.005)
    errors += [f"user {u}: no reply within {TIMEOUT_S:.0f} s" for u in waiting]
    elapsed = time.monotonic() - started
    # Every 👍 must be acknowledged (answerCallbackQuery) before the bot is stopped; otherwise
    # the last votes would still sit in the stand-in's update queue, never fetched.
    votes = sum(w.votes for w in workers.values())
    acknowledged = stub.wait_for(
        lambda c: c.method == "answerCallbackQuery" and c.params.get("text") == "谢谢反馈！",
        count=votes,
        timeout=60,
    )
    if len(acknowledged) < votes:
        errors.append(f"{votes - len(acknowledged)} votes never acknowledged")
    return LoadResult(list(workers.values()), elapsed, errors)


def ask_next(stub: BotApiStub, worker: Worker, questions: list[str]) -> None:
    question = questions[(worker.user_id + worker.asked) % len(questions)]
    worker.asked += 1
    worker.pushed_at = time.monotonic()
    stub.push(message_update(worker.user_id, question, message_id=worker.asked))


def _vote(stub: BotApiStub, worker: Worker, reply: Call) -> None:
    markup = reply.params.get("reply_markup") or {}
    for button in (markup.get("inline_keyboard") or [[]])[0]:
        if button["text"] == "👍":
            stub.push(callback_update(worker.user_id, button["callback_data"]))
            worker.votes += 1


def _report(result: LoadResult, database: Path, exit_code: int) -> None:
    latencies = [x for w in result.workers for x in w.latencies]
    answered = len(latencies)
    votes = sum(w.votes for w in result.workers)
    print(f"{USERS} users x {QUESTIONS_EACH} questions, sequential per user, through polling")
    print(
        f"answered: {answered} in {result.elapsed:.1f} s = {answered / result.elapsed:.1f} "
        "questions/s  [target >= 30/s]"
    )
    print(
        f"update-to-reply latency: p50 {percentile_ms(latencies, 50):.0f} ms, "
        f"p99 {percentile_ms(latencies, 99):.0f} ms  [target p99 <= 2000 ms]"
    )
    print(
        f"errors: {len(result.errors)}  [target 0]" + "".join(f"\n  {e}" for e in result.errors[:5])
    )
    users = tuple(w.user_id for w in result.workers)
    marks = ",".join("?" * len(users))
    with sqlite3.connect(database) as db:
        stored_questions = db.execute(
            f"select count(*) from questions where user_id in ({marks})", users
        ).fetchone()[0]
        stored_votes = db.execute(
            f"select count(*) from feedback where user_id in ({marks})", users
        ).fetchone()[0]
    print(
        f"rows stored after shutdown (exit code {exit_code}): questions {stored_questions}/"
        f"{USERS * QUESTIONS_EACH}, votes {stored_votes}/{votes}  [target: all]"
    )
