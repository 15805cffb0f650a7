"""``python -m symgraph``: the ``symgraph`` command line."""

from symgraph.cli import main

raise SystemExit(main())
