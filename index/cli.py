"""Command-line interface of the retrieval core. Errors print one clear line, never a traceback."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from index.errors import IndexCoreError
from index.model_store import resolve_model
from index.settings import CoreSettings

EXIT_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m index", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    model = commands.add_parser(
        "model", help="provision the configured embedding model and show where it is"
    )
    model.add_argument("--path", action="store_true", help="print only the model folder's path")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = CoreSettings.load()
        if args.command == "model":
            return _model(settings, path_only=args.path)
    except IndexCoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return 0


def _model(settings: CoreSettings, *, path_only: bool) -> int:
    if not path_only:
        print(f"model: {settings.embedding.model}", file=sys.stderr)
        print("provisioning (a first conversion takes a few seconds)...", file=sys.stderr)
    resolved = resolve_model(settings.embedding.model, settings.paths.data_dir)
    if not path_only:
        state = "converted now" if resolved.converted_now else "ready"
        print(f"source: {resolved.source} ({state})")
    print(resolved.path)
    return 0
