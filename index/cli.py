"""Command-line interface of the retrieval core. Errors print one clear line, never a traceback.

python -m index model [--path]     provision the embedding model, print its folder
python -m index build              build, validate and serve a new index version from the corpus
                                   (a running bot follows only `python -m bot reload`)
python -m index eval [FILE...]     R@k, MRR, abstention and coverage by split, kind, document
python -m index calibrate [FILE...] refit the abstention model on the dev split
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from index.errors import IndexCoreError
from index.model.encoder import Encoder
from index.model.provisioning import resolve_model
from index.settings import CoreSettings
from index.store.version_folder import IndexVersion

EXIT_ERROR = 2
DEFAULT_QUESTIONS = [Path("eval/questions.jsonl"), Path("eval/laws.jsonl")]
REPORT_ONLY = Path("eval/report-only")  # the report alone: abstention must hold without the laws


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m index", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    model = commands.add_parser("model", help="provision the embedding model, print its folder")
    model.add_argument("--path", action="store_true", help="print only the folder's path")
    commands.add_parser("build", help="build a new index version from the corpus and serve it")
    for name in ("eval", "calibrate"):
        sub = commands.add_parser(name, help=f"{name} on a question set")
        sub.add_argument("questions", nargs="*", type=Path, default=DEFAULT_QUESTIONS)
        sub.add_argument(
            "--corpus",
            type=Path,
            action="append",
            default=None,
            help="a corpus folder to build an index of and use (repeatable; default: the "
            "configured corpus, and for calibrate also eval/report-only)",
        )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = CoreSettings.load()
        if args.command == "model":
            return _model(settings, path_only=args.path)
        return _with_index(settings, args)
    except IndexCoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _model(settings: CoreSettings, *, path_only: bool) -> int:
    if not path_only:
        print(f"model: {settings.embedding.model}", file=sys.stderr)
        print("provisioning (a first conversion takes a few seconds)...", file=sys.stderr)
    resolved = resolve_model(settings.embedding.model, settings.paths.data_dir)
    if not path_only:
        state = "converted now" if resolved.converted_now else "ready"
        print(f"source: {resolved.source} ({state})")
    if settings.embedding.backend != "torch":  # the ONNX export is part of provisioning
        from index.model.onnx_encoder import onnx_supported, provision_onnx

        if onnx_supported(resolved.path):
            exported = provision_onnx(resolved, settings.paths.data_dir)
            if not path_only:
                print(f"ONNX export: {exported}")
    print(resolved.path)
    return 0


def _with_index(settings: CoreSettings, args: argparse.Namespace) -> int:
    from index.answering.answerer import open_answerer, open_retriever
    from index.answering.evaluation import calibrate, evaluate, load_questions, report
    from index.model.encoder import load_encoder
    from index.store.lifecycle import reload_corpus

    encoder = load_encoder(settings)
    if args.command == "build":
        print(reload_corpus(settings, encoder).version_id)
        return 0
    questions = load_questions(*args.questions)
    corpora = args.corpus or [settings.paths.corpus_dir]
    if args.command == "calibrate":
        corpora = args.corpus or [settings.paths.corpus_dir, REPORT_ONLY]
        configurations = [
            (open_retriever(settings, encoder, version), _titles(version))
            for version in (_open_corpus(settings, encoder, corpus) for corpus in corpora)
        ]
        print(calibrate(configurations, questions))
        return 0
    for corpus in corpora:
        version = _open_corpus(settings, encoder, corpus)
        answerer = open_answerer(settings, encoder, version)
        print(
            f"### corpus {corpus}: index {version.version_id}, "
            f"{len(version.manifest.documents)} documents, {version.manifest.chunk_count} passages"
        )
        outcomes = evaluate(
            answerer, questions, k=settings.retrieval.top_k, titles=_titles(version)
        )
        print(report(outcomes) + "\n")
    return 0


def _open_corpus(settings: CoreSettings, encoder: Encoder, corpus: Path) -> IndexVersion:
    """The serving version of the configured corpus, or for another folder a version built in
    its own store under the data folder (kept, so a second run does not rebuild it)."""
    from index.store.lifecycle import open_serving

    if corpus.resolve() == settings.paths.corpus_dir.resolve():
        return open_serving(settings, encoder)
    name = hashlib.sha1(str(corpus.resolve()).encode()).hexdigest()[:10]
    other = settings.model_copy(
        update={
            "paths": settings.paths.model_copy(
                update={
                    "corpus_dir": corpus,
                    "data_dir": settings.paths.data_dir / "other-corpora" / name,
                }
            )
        }
    )
    return open_serving(other, encoder)


def _titles(version: IndexVersion) -> list[str]:
    return [str(d["title"]) for d in version.manifest.documents]
