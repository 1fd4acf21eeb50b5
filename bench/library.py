"""The law library at full size, through the public commands (``python -m bot reload --json``,
``python -m bot ask --json``): ../shared/corpus/law-library holds about 1,560 national laws,
regulations, judicial interpretations and cases (8.7 million characters, 28 MB of Markdown).

Copied flat into a new corpus folder (a name found in two subfolders gets its folder's name in
front), with the model provisioned first by ``python -m index model``:

1. a cold build: time, passages and units embedded per second, index size on disk (the version
   folder; the vector cache beside it), the build's peak memory;
2. a reload after one document changed (a paragraph appended to one law): time;
3. one ``ask --json`` process on that index: start to first answer, then every eval question
   asked one at a time (p50/p99), and its peak memory.

Targets (issue 12): cold build <= 20 min, one-document reload <= 2 min, answer p50 <= 25 ms,
serving memory <= 2 GB. Exits 1 when one is missed. Takes about half an hour on 2 cores.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.commands import AskProcess, data_env, eval_questions, reload, report
from bench.stats import dir_size_mb, percentile_ms, provision_model_in_child
from tests.support import REPO

LIBRARY = REPO.parent / "shared" / "corpus" / "law-library"
CHANGED = "劳动合同法"  # the document changed for the one-document reload (name starts with it)
ROUNDS = 2


def run() -> None:
    if not LIBRARY.is_dir():
        raise SystemExit(f"{LIBRARY} is not there: the law library sits in ../shared/corpus")
    figures: list[tuple[str, float, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-library-") as tmp:
        data_dir, corpus_dir = Path(tmp) / "data", Path(tmp) / "corpus"
        documents = _flatten(LIBRARY, corpus_dir)
        chars = sum(len(p.read_text("utf-8")) for p in corpus_dir.iterdir())
        print(f"{documents} documents, {chars / 1e6:.1f} million characters", flush=True)
        provision_model_in_child(data_dir)
        env = data_env(data_dir, corpus_dir)

        cold = reload(env)
        version = data_dir / "index" / str(cold.result["version_id"])
        passages = int(cold.result["passages"])
        units = _units(version)
        print(
            f"cold build: {cold.seconds:.0f} s for {passages} passages and {units} units "
            f"({(passages + units) / cold.seconds:.0f} embeddings/s, "
            f"{passages / cold.seconds:.0f} passages/s); peak memory {cold.peak_mb:.0f} MB",
            flush=True,
        )
        print(
            f"index on disk: version folder {dir_size_mb(version):.0f} MB, vector cache "
            f"{_cache_mb(data_dir):.0f} MB",
            flush=True,
        )
        figures.append(("cold build", cold.seconds / 60, 20, "min"))

        changed = next(p for p in sorted(corpus_dir.iterdir()) if CHANGED in p.name)
        with changed.open("a", encoding="utf-8") as handle:
            handle.write(
                "\n\n第一百零一条 本条为基准测试新增的条文，用于检验只重新嵌入改动的文字。\n"
            )
        one = reload(env)
        print(f"reload after changing {changed.name}: {one.seconds:.1f} s", flush=True)
        figures.append(("reload after a one-document change", one.seconds / 60, 2, "min"))

        questions = eval_questions()
        asker = AskProcess(env)
        asker.ask(questions[0])
        print(f"ask: start to first answer {time.perf_counter() - asker.started:.1f} s")
        latencies = [asker.ask(q)[0] for _ in range(ROUNDS) for q in questions]
        p50, p99 = percentile_ms(latencies, 50), percentile_ms(latencies, 99)
        print(f"answers over {len(latencies)} questions: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
        figures.append(("answer p50", p50, 25, "ms"))
        figures.append(("serving memory (ask process peak)", asker.peak_mb() / 1024, 2, "GB"))
        asker.close()

    report(figures)


def _flatten(library: Path, corpus_dir: Path) -> int:
    files = sorted(p for p in library.rglob("*") if p.is_file())
    seen = Counter(p.name for p in files)
    corpus_dir.mkdir(parents=True)
    for path in files:
        name = path.name if seen[path.name] == 1 else f"{path.parent.name}-{path.name}"
        shutil.copy(path, corpus_dir / name)
    return len(files)


def _units(version: Path) -> int:
    import json

    manifest = json.loads((version / "manifest.json").read_text("utf-8"))
    return int(manifest["sentence_count"])


def _cache_mb(data_dir: Path) -> float:
    return sum(p.stat().st_size for p in data_dir.rglob("*vector*") if p.is_file()) / 1e6
