"""``python -m index``: command-line access to the retrieval core."""

from index.cli import main

raise SystemExit(main())
