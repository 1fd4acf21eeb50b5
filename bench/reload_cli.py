"""Reloads through the public command, as an admin's shell runs them: `python -m bot reload`.

On a copy of the shipped corpus (the report and the eleven labour laws) in a new data folder:
a cold build (every passage embedded), a reload of the unchanged corpus, and a reload after one
40 KB law from ../shared/corpus/law-library is added. Each is timed from the command's start to
its exit (model load included), with how many embeddings the build took from the vector cache.
Targets (issue 12): unchanged reload <= 10 s, one-law reload <= 20 s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.stats import provision_model_in_child
from tests.support import REPO

LAW_LIBRARY = REPO.parent / "shared" / "corpus" / "law-library"
ADDED_LAW = "行政法/土地管理法(2019-08-26).md"  # about 40 KB


def run() -> None:
    added = LAW_LIBRARY / ADDED_LAW
    with tempfile.TemporaryDirectory(prefix="bench-reload-cli-") as tmp:
        data_dir, corpus_dir = Path(tmp) / "data", Path(tmp) / "corpus"
        provision_model_in_child(data_dir)
        shutil.copytree(REPO / "corpus", corpus_dir)
        env = {**os.environ, "DATA_DIR": str(data_dir), "PATHS__CORPUS_DIR": str(corpus_dir)}
        rows = [("cold build (report + 11 laws)", _reload(env))]
        rows.append(("reload, corpus unchanged", _reload(env)))
        if added.is_file():
            shutil.copy(added, corpus_dir / added.name)
            size = added.stat().st_size / 1024
            rows.append((f"reload after adding one {size:.0f} KB law", _reload(env)))
        else:
            print(f"(skipped the one-law reload: {added} is not there)")
    print("command: python -m bot reload --json  (wall time of the whole command)")
    for label, (seconds, passages) in rows:
        print(f"{label:42s} {seconds:6.1f} s   {passages} passages")
    print("targets: unchanged reload <= 10 s, one-law reload <= 20 s")


def _reload(env: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bot", "reload", "--json"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"reload failed ({done.returncode}): {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, int(result.get("result", result).get("passages", 0))
