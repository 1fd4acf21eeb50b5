"""``python -m bot``: run, ask, chat."""

from bot.cli import main

raise SystemExit(main())
