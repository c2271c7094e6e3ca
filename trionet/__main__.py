"""``python -m trionet``: the command-line entry point (see :mod:`trionet._cli`)."""

from ._cli import main

raise SystemExit(main())
