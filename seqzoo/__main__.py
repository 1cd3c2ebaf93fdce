"""``python -m seqzoo``: the same as the ``seqzoo`` command."""

from seqzoo.cli import main

main()
