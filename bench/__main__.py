"""``python -m bench [NAME ...]``: run the named benchmarks (default: all) and print figures."""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = {
    "encoder": "bench.encoder",
    "answering": "bench.answering",
    "telegram": "bench.telegram_load",
    "reload": "bench.reload_load",
    "cli": "bench.cli",
    "library": "bench.library",
    "scale": "bench.scale",
    "faults": "bench.faults",
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], default=list(BENCHMARKS))
    for name in parser.parse_args().names or list(BENCHMARKS):
        print(f"== {name} ==", flush=True)
        importlib.import_module(BENCHMARKS[name]).run()


main()
