"""Issue 12's targets, measured through the public commands only, as a user and an admin run
them: ``python -m bot ask --json`` (questions on stdin, one JSON answer per line) and
``python -m bot reload --json``.

On a copy of the shipped corpus (the report and the eleven labour laws) in a new data folder
(the model provisioned first, by ``python -m index model``):

1. a cold build, a reload of the unchanged corpus, and a reload after one 40 KB law from
   ../shared/corpus/law-library is added, each timed from the command's start to its exit;
2. one ``ask --json`` process: the time from its start to its first answer, then every eval
   question asked one at a time (each timed from writing it to reading its answer), and the
   process's peak memory (VmHWM, read from /proc before it exits);
3. the same process answering 10 questions a second while ``reload --json`` builds the
   corpus plus a 140 KB document (民法典·合同编): latencies of the questions answered while the
   reload runs.

Every figure is printed beside its target; the check exits 1 when one is missed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.commands import AskProcess, data_env, eval_questions, reload, report
from bench.stats import percentile_ms, provision_model_in_child
from tests.support import REPO, start_reload

LAW_LIBRARY = REPO.parent / "shared" / "corpus" / "law-library"
ADDED_LAW = "行政法/土地管理法(2019-08-26).md"  # about 40 KB
BIG_DOCUMENT = "民法典/合同编.md"  # about 140 KB
ROUNDS = 3  # each eval question asked this many times
DURING_RELOAD_RATE = 10  # questions per second while the reload runs (a busy bot)


def run() -> None:
    for path in (LAW_LIBRARY / ADDED_LAW, LAW_LIBRARY / BIG_DOCUMENT):
        if not path.is_file():
            raise SystemExit(f"{path} is not there: the law library sits in ../shared/corpus")
    questions = eval_questions()
    figures: list[tuple[str, float, float, str]] = []  # (what, measured, target, unit)
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        data_dir, corpus_dir = Path(tmp) / "data", Path(tmp) / "corpus"
        provision_model_in_child(data_dir)
        shutil.copytree(REPO / "corpus", corpus_dir)
        env = data_env(data_dir, corpus_dir)

        cold = reload(env)
        passages = cold.result["passages"]
        print(f"cold build (report + 11 laws, {passages} passages): {cold.seconds:.1f} s")
        figures.append(("reload, corpus unchanged", reload(env).seconds, 10, "s"))
        added = LAW_LIBRARY / ADDED_LAW
        shutil.copy(added, corpus_dir / added.name)
        what = f"reload after adding one {added.stat().st_size / 1024:.0f} KB law"
        figures.append((what, reload(env).seconds, 20, "s"))
        (corpus_dir / added.name).unlink()
        reload(env)  # back to the shipped corpus: the questions below are asked on it

        asker = AskProcess(env)
        asker.ask(questions[0])
        figures.append(("ask: start to first answer", time.perf_counter() - asker.started, 6, "s"))
        latencies = [asker.ask(q)[0] for _ in range(ROUNDS) for q in questions]
        figures.append(
            (f"answer p50 ({len(latencies)} questions)", percentile_ms(latencies, 50), 10, "ms")
        )
        figures.append(
            (f"answer p99 ({len(latencies)} questions)", percentile_ms(latencies, 99), 25, "ms")
        )

        big = LAW_LIBRARY / BIG_DOCUMENT
        shutil.copy(big, corpus_dir / big.name)
        background = start_reload(env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        during: list[float] = []
        next_at = time.perf_counter()
        while background.poll() is None:
            time.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += 1 / DURING_RELOAD_RATE
            during.append(asker.ask(questions[len(during) % len(questions)])[0])
        reload_output = background.communicate()[0]
        if background.returncode != 0:
            raise SystemExit(f"the reload beside the questions failed: {reload_output[-2000:]}")
        what = f"answer p99 while a reload embeds a {big.stat().st_size / 1024:.0f} KB document"
        figures.append((what, percentile_ms(during, 99), 100, "ms"))
        print(
            f"  ({len(during)} questions answered during that reload, {DURING_RELOAD_RATE} a "
            f"second; p50 {percentile_ms(during, 50):.1f} ms)"
        )
        figures.append(("peak memory of the ask process", asker.peak_mb(), 800, "MB"))
        asker.close()

    report(figures)
