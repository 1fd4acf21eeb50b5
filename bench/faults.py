"""The fault suite with the outages at full length (PostgreSQL down 30 s, Redis 20 s,
sendMessage failing 10 s or hanging 70 s): `pytest tests/test_faults.py` with FAULTS_FULL=1.
Prints one row per scenario: asked, answered, stored, answered twice, stored twice, lost.
Target in every row: 0 lost, 0 doubled, everything stored once the services return.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support import REPO


def run() -> None:
    print("command: FAULTS_FULL=1 python -m pytest tests/test_faults.py -s")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_faults.py",
            "-s",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        env={**os.environ, "FAULTS_FULL": "1"},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    print("| scenario | asked | answered | stored | answered twice | stored twice | lost |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for line in done.stdout.splitlines():
        if line.startswith("FAULT "):
            print(line.removeprefix("FAULT "))
    for line in done.stdout.splitlines():
        if line.startswith(("FAILED ", "ERROR tests/")):
            print(line[:300])
    print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:])
