"""``python -m bot`` commands. Errors print one clear line, never a traceback.

python -m bot run                         Telegram with BOT_TOKEN set, else the console chat
python -m bot ask [--json] [-k K] [Q]     answer Q, or each line of standard input
python -m bot chat                        interactive console chat
python -m bot reload [--json]             build, validate and serve the corpus folder; running
                                          bots switch within seconds (recorded in the database)
python -m bot rollback [VERSION]          serve the previous (or the named) kept index version
python -m bot status                      the serving version, its documents, pending changes
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence

from bot.app import Core, build_core, configure_logging, load_settings, load_taught
from bot.console import ask, chat
from bot.redaction import install as install_redaction
from bot.settings import Settings
from index import IndexCoreError

EXIT_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="serve Telegram (BOT_TOKEN) or start the console chat")
    commands.add_parser("chat", help="interactive console chat on the bundled documents")
    ask_cmd = commands.add_parser("ask", help="answer a question, or one per line of stdin")
    ask_cmd.add_argument("--json", action="store_true", help="one JSON object per line")
    ask_cmd.add_argument("-k", type=int, default=None, help="passages to return (default 5)")
    ask_cmd.add_argument("question", nargs="?", default=None)
    reload_cmd = commands.add_parser("reload", help="rebuild the index from the corpus folder")
    reload_cmd.add_argument(
        "--json",
        action="store_true",
        help="progress and result as JSON lines, at low CPU priority",
    )
    reload_cmd.add_argument(
        "--build-only",
        action="store_true",
        help="build and validate, but do not serve it (a running bot switches to it itself)",
    )
    rollback_cmd = commands.add_parser("rollback", help="serve an earlier kept index version")
    rollback_cmd.add_argument("version", nargs="?", default=None)
    commands.add_parser("status", help="the serving version and pending corpus changes")
    args = parser.parse_args(argv)
    if args.command == "ask" and args.k is not None and not 1 <= args.k <= 50:
        parser.error("-k must be between 1 and 50")
    configure_logging()
    if args.command in ("reload", "rollback", "status"):
        from bot.admin_cli import run_admin_command

        return run_admin_command(args)
    try:
        settings = load_settings()
        telegram = args.command == "run" and settings.telegram.token is not None
        if telegram:
            install_redaction(settings.telegram.token.get_secret_value())  # type: ignore[union-attr]
            configure_logging(logging.INFO)
        if telegram:
            with _health_while_starting(settings):
                core = build_core(settings, progress=sys.stderr.isatty(), serving=True)
            return _serve_telegram(core)
        core = build_core(settings, progress=sys.stderr.isatty())
        k = args.k if args.command == "ask" and args.k else settings.retrieval.top_k
        taught = load_taught(core)
        if args.command == "ask":
            questions = [args.question] if args.question is not None else _stdin_lines()
            ask(core.answerer, questions, k=k, as_json=args.json, taught=taught)
        else:
            chat(core.answerer, k=k, taught=taught)
    except IndexCoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    return 0


def _health_while_starting(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """``/healthz`` answering 503 where the running bot will serve it (the webhook port, or
    ``[ops]`` in polling mode), while the model and the index load."""
    from bot.ops import while_starting

    telegram = settings.telegram
    if telegram.mode == "webhook":
        return while_starting(telegram.webhook_host, telegram.webhook_port)
    if settings.ops.enabled:
        return while_starting(settings.ops.host, settings.ops.port)
    return contextlib.nullcontext()


def _serve_telegram(core: Core) -> int:
    from bot.app import serve_telegram
    from bot.telegram.runner import StartRefusedError

    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(serve_telegram(core))
    except StartRefusedError as exc:
        logging.getLogger("bot").error("cannot serve Telegram: %s", exc)
        return EXIT_ERROR
    except Exception:  # logged through the redacting handler, unlike a bare traceback
        logging.getLogger("bot").exception("the Telegram bot stopped on an error")
        return 1
    return 0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (measured: faster HTTP and callbacks under load), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _stdin_lines() -> Iterator[str]:
    return (line.rstrip("\r\n") for line in sys.stdin)
