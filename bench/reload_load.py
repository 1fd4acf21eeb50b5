"""A reload under load: workers keep asking while an admin's /reload builds and switches.

40 simulated users ask one question after another through polling, each waiting for its reply
and then 1.2 s more (a person reading; also under the per-user limit of 1 question/s); after a
10 s baseline an admin sends /reload; asking goes on until 10 s after the switch.
Prints the questions asked during the reload, how many failed (no reply, or an error reply),
the latency p50/p99 during the reload against the baseline, and which version answered.
Target (issue 5): 0 failed questions.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.stats import percentile_ms, provision_model_in_child
from bench.telegram_load import Worker, ask_next
from tests.bot_process import BotProcess
from tests.support import REPO, question_set
from tests.telegram_stub import BotApiStub, message_update

USERS = 40
THINK_S = 1.2
BASELINE_S = 10.0
AFTER_S = 10.0
ADMIN = 990_001
FIRST_USER = 990_100
ERRORS = ("出了点问题", "问得太快")


def run() -> None:
    questions = [str(q["question"]) for q in question_set() if q["kind"] != "unanswerable"]
    with tempfile.TemporaryDirectory(prefix="bench-reload-") as tmp:
        data_dir, corpus_dir = Path(tmp) / "data", Path(tmp) / "corpus"
        provision_model_in_child(data_dir)
        shutil.copytree(REPO / "corpus", corpus_dir)
        stub = BotApiStub()
        stub.start()
        env = {"ADMINS": str(ADMIN), "PATHS__CORPUS_DIR": str(corpus_dir)}
        with BotProcess(stub, data_dir, data_dir / "bot.log", **env) as bot:
            bot.wait_started(timeout=300)
            measured = _drive(stub, questions)
            bot.stop(timeout=120)  # flushes the stored questions read by the report
        stub.stop()
        _report(*measured, data_dir)


Asked = list[tuple[float, float | None, bool]]  # pushed at, latency, failed


def _drive(
    stub: BotApiStub, questions: list[str]
) -> tuple[Asked, Asked, float | None, float | None, str]:
    workers = {FIRST_USER + i: Worker(FIRST_USER + i) for i in range(USERS)}
    asked: Asked = []
    seen = len(stub.calls)
    started = time.monotonic()
    reload_at = reload_done = None
    outcome = ""
    due: dict[int, float] = {}  # user -> when it asks next
    for worker in workers.values():
        ask_next(stub, worker, questions)
    while True:
        now = time.monotonic()
        for user_id, at in list(due.items()):
            if at <= now:
                del due[user_id]
                ask_next(stub, workers[user_id], questions)
        if reload_at is None and now - started >= BASELINE_S:
            reload_at = now
            stub.push(message_update(ADMIN, "/reload"))
        if reload_done is not None and now - reload_done >= AFTER_S:
            break
        if now - started > 600:
            outcome = "no result within 600 s"
            break
        calls = stub.calls[seen:]
        seen += len(calls)
        for call in calls:
            if call.method == "editMessageText" and call.params["text"][:1] in "✅❌":
                reload_done, outcome = call.at, call.params["text"].splitlines()[0]
            if call.method != "sendMessage" or call.result is None:
                continue
            worker = workers.get(int(call.params["chat_id"]))
            if worker is None:
                continue
            failed = any(e in call.params["text"] for e in ERRORS)
            asked.append((worker.pushed_at, call.at - worker.pushed_at, failed))
            due[worker.user_id] = call.at + THINK_S
        time.sleep(0.005)
    waiting: Asked = [(w.pushed_at, None, True) for w in workers.values() if w.user_id not in due]
    return asked, waiting, reload_at, reload_done, outcome


def _report(
    asked: Asked,
    waiting: Asked,
    reload_at: float | None,
    reload_done: float | None,
    outcome: str,
    data_dir: Path,
) -> None:
    assert reload_at is not None
    end = reload_done or time.monotonic()
    during = [a for a in asked if reload_at <= a[0] <= end]
    before = [a for a in asked if a[0] < reload_at]
    late = [w for w in waiting if w[0] < end - 30]  # asked long before the end, never answered
    failed = sum(1 for a in during if a[2]) + len(late)
    print(f"{USERS} users asking continuously; /reload after {BASELINE_S:.0f} s: {outcome}")
    print(f"reload took {end - reload_at:.1f} s (from /reload to the final message)")
    print(
        f"questions asked during the reload: {len(during)}, failed: {failed}  [target 0]; "
        f"throughput {len(during) / (end - reload_at):.1f}/s"
    )
    for label, part in (("baseline", before), ("during reload", during)):
        latencies = [a[1] for a in part if a[1] is not None]
        if latencies:
            print(
                f"latency {label}: p50 {percentile_ms(latencies, 50):.0f} ms, "
                f"p99 {percentile_ms(latencies, 99):.0f} ms ({len(latencies)} questions)"
            )
    with sqlite3.connect(data_dir / "bot.sqlite3") as db:
        by_version = db.execute(
            "select index_version, count(*) from questions where user_id >= ? "
            "group by index_version order by min(asked_at)",
            (FIRST_USER,),
        ).fetchall()
    print("questions answered per index version: " + ", ".join(f"{v} {n}" for v, n in by_version))
