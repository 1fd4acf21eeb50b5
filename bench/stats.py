"""Small helpers to report latency distributions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(seconds) * 1000.0, q))


def dir_size_mb(path: object) -> float:
    from pathlib import Path

    root = Path(str(path))
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6
