"""Command-line interface of the retrieval core. Errors print one clear line, never a traceback.

python -m index model [--path]     provision the embedding model, print its folder
python -m index build              build, validate and serve a new index version from the corpus
                                   (a running bot follows only `python -m bot reload`)
python -m index eval [FILE...]     R@k, MRR, abstention and coverage by split, kind, document
python -m index calibrate [FILE...] refit the abstention model on the dev split
python -m index fusion [FILE...]   R@k on the dev split for a grid of fusion weights
python -m index train              fine-tune the model's adapter on train/ (about 45 minutes)
python -m index conversation       follow-ups (eval/dialogues.jsonl) with and without context, and
                                   the taught-answer threshold on eval/taught.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from index.errors import IndexCoreError
from index.model.adapter import resolve_embedding_model
from index.model.encoder import Encoder
from index.settings import CoreSettings
from index.store.version_folder import IndexVersion

EXIT_ERROR = 2
DEFAULT_QUESTIONS = [Path("eval/questions.jsonl"), Path("eval/laws.jsonl")]
# Dev questions only (written on 6 December; `make eval` reports them on their own): fusion and
# calibrate read them beside the dev split of the two above (calibrate also the dev dialogues,
# turn by turn: fitted without follow-ups, the abstention refused short ones such as "建了几个？").
DEV_QUESTIONS = [Path("eval/dev-laws.jsonl"), Path("eval/dev-report.jsonl")]
REPORT_ONLY = Path("eval/report-only")
DIALOGUES = Path("eval/dialogues.jsonl")
TAUGHT = Path("eval/taught.jsonl")
FUSION_GRID: dict[str, Sequence[float]] = {
    "unit_weight": (0.5, 1.0),
    "lexical_weight": (0.1, 0.2, 0.3),
    "bank_weight": (0.0, 2.0, 3.0, 4.0),
    "bank_floor_sd": (2.0, 2.5, 3.0, 3.5, 4.0),
    "bank_lexical_weight": (0.0, 1.0, 2.0, 3.0),
}  # the report alone: abstention must hold without the laws


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m index", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    model = commands.add_parser("model", help="provision the embedding model, print its folder")
    model.add_argument("--path", action="store_true", help="print only the folder's path")
    commands.add_parser("build", help="build a new index version from the corpus and serve it")
    for name in ("eval", "calibrate", "fusion"):
        sub = commands.add_parser(name, help=f"{name} on a question set")
        sub.add_argument(
            "questions",
            nargs="*",
            type=Path,
            default=DEFAULT_QUESTIONS + (DEV_QUESTIONS if name != "eval" else []),
        )
        sub.add_argument(
            "--corpus",
            type=Path,
            action="append",
            default=None,
            help="a corpus folder to build an index of and use (repeatable; default: the "
            "configured corpus, and for calibrate also eval/report-only)",
        )
    talk = commands.add_parser(
        "conversation", help="follow-ups with and without context; taught-answer calibration"
    )
    talk.add_argument("--corpus", type=Path, default=None, help="default: the configured one")
    fit = commands.add_parser("train", help="fine-tune the adapter on train/ (CPU, ~45 min)")
    fit.add_argument(
        "--out",
        type=Path,
        default=None,
        help="adapter folder to write (default: index/model/adapter, the one the repository ships)",
    )
    fit.add_argument("--epochs", type=float, default=None)
    fit.add_argument("--limit", type=int, default=0, help="train on this many examples only")
    fit.add_argument("--seed", type=int, default=None)
    fit.add_argument("--time-budget", type=float, default=None, help="seconds (default 3300)")
    fit.add_argument("--learning-rate", type=float, default=None)
    fit.add_argument(
        "--question-weight",
        type=float,
        default=None,
        help="weight of the question-to-question loss (default 0: off)",
    )
    fit.add_argument(
        "--start-from",
        type=Path,
        default=None,
        help="a second round: start from this adapter and mine hard negatives with it",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = CoreSettings.load()
        if args.command == "model":
            return _model(settings, path_only=args.path)
        if args.command == "train":
            return _train(settings, args)
        return _with_index(settings, args)
    except IndexCoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _model(settings: CoreSettings, *, path_only: bool) -> int:
    if not path_only:
        print(f"model: {settings.embedding.model}", file=sys.stderr)
        print("provisioning (a first conversion takes a few seconds)...", file=sys.stderr)
    resolved = resolve_embedding_model(settings)
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


def _train(settings: CoreSettings, args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from index.model.adapter import BUNDLED_ADAPTER
    from index.training.trainer import TrainConfig, train

    logging.getLogger("index").setLevel(logging.INFO)
    overrides: dict[str, Any] = {
        key: value
        for key, value in (
            ("epochs", args.epochs),
            ("seed", args.seed),
            ("time_budget_s", args.time_budget),
            ("limit", args.limit),
            ("learning_rate", args.learning_rate),
            ("start_from", str(args.start_from) if args.start_from else None),
            ("question_weight", args.question_weight),
        )
        if value is not None
    }
    config = dataclasses.replace(TrainConfig(), **overrides)
    manifest = train(settings, config, out=args.out or BUNDLED_ADAPTER)
    print(json.dumps({k: manifest[k] for k in ("dev", "data", "steps", "seconds")}, indent=1,
                     ensure_ascii=False))  # fmt: skip
    return 0


def _with_index(settings: CoreSettings, args: argparse.Namespace) -> int:
    from index.answering.answerer import open_answerer, open_retriever
    from index.answering.evaluation import calibrate, evaluate, load_questions, report
    from index.model.encoder import load_encoder
    from index.store.lifecycle import open_corpus, reload_corpus

    encoder = load_encoder(settings)
    if args.command == "build":
        print(reload_corpus(settings, encoder).version_id)
        return 0
    store = "eval-" + hashlib.sha1(encoder.model_name.encode()).hexdigest()[:10]
    if args.command == "conversation":
        return _conversation(settings, encoder, args.corpus or settings.paths.corpus_dir, store)
    questions = load_questions(*args.questions)
    # Versions of their own, one store per model (above): evaluating the base model
    # (EMBEDDING__ADAPTER=none) never touches what serves, nor another model's versions.
    corpora = args.corpus or [settings.paths.corpus_dir]
    if args.command == "calibrate":
        corpora = args.corpus or [settings.paths.corpus_dir, REPORT_ONLY]
        from index.answering.abstention import AbstentionModel, abstention_path
        from index.answering.answerer import Answerer
        from index.answering.conversation_eval import as_questions, load_dialogues

        versions = [open_corpus(settings, encoder, corpus, store=store) for corpus in corpora]
        # The answerers' own verdicts are not used (calibrate reads what they search), so any
        # fitted model serves; the new one is written for the configured adapter.
        configurations = [
            (Answerer(open_retriever(settings, encoder, v), AbstentionModel.load()), _titles(v))
            for v in versions
        ]
        dialogues = [as_questions(d) for d in load_dialogues(DIALOGUES)]
        path = abstention_path(settings.embedding.adapter)
        print(calibrate(configurations, questions, path, dialogues=dialogues))
        return 0
    if args.command == "fusion":
        from index.answering.evaluation import fusion_grid

        version = open_corpus(settings, encoder, corpora[0], store=store)
        params = open_retriever(settings, encoder, version).params
        print(fusion_grid(version, encoder, questions, _titles(version), FUSION_GRID, params))
        return 0
    for corpus in corpora:
        version = open_corpus(settings, encoder, corpus, store=store)
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


def _conversation(settings: CoreSettings, encoder: Encoder, corpus: Path, store: str) -> int:
    from index.answering.answerer import open_answerer
    from index.answering.conversation_eval import (
        Turn,
        calibrate_taught,
        evaluate_dialogues,
        load_dialogues,
        load_taught_cases,
    )
    from index.answering.evaluation import load_questions
    from index.store.lifecycle import open_corpus

    version = open_corpus(settings, encoder, corpus, store=store)
    answerer = open_answerer(settings, encoder, version)
    titles = _titles(version)
    standalone = [
        Turn(q.question, q.answers, follow_up=False)
        for q in (q.resolved(titles) for q in load_questions(*DEFAULT_QUESTIONS))
        if q.answerable and q.answers
    ]
    print(f"### corpus {corpus}: index {version.version_id}")
    print(evaluate_dialogues(answerer, load_dialogues(DIALOGUES), standalone))
    print(calibrate_taught(encoder, load_taught_cases(TAUGHT))[1])
    return 0


def _titles(version: IndexVersion) -> list[str]:
    return [str(d["title"]) for d in version.manifest.documents]
