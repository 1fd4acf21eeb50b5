"""Small helpers to report latency distributions."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(seconds) * 1000.0, q))


def dir_size_mb(path: object) -> float:
    root = Path(str(path))
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6


def provision_model_in_child(data_dir: Path) -> None:
    """Convert the bundled model into ``data_dir`` in a child process, so the conversion's
    memory and time do not count toward the benchmark process (bench.encoder reports them)."""
    subprocess.run(
        [sys.executable, "-m", "index", "model", "--path"],
        env={**os.environ, "DATA_DIR": str(data_dir)},
        cwd=Path(__file__).resolve().parents[1],
        check=True,
        capture_output=True,
    )
