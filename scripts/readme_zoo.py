"""Rewrite README's zoo table from the catalogue: the output of ``seqzoo zoo list``.

Run ``python scripts/readme_zoo.py`` after the catalogue changes (a zoo build or a benchmark
run); ``--check`` exits 1 if README is out of date instead of rewriting it
(``tests/test_readme_zoo.py`` runs the same check).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
COMMAND = "$ seqzoo zoo list\n"


def zoo_table() -> str:
    """``seqzoo zoo list`` of the bundled catalogue's entries (outside plugins left out)."""
    import subprocess

    from seqzoo.zoo.catalogue import CATALOGUE_PATH, read_catalogue

    bundled = set(read_catalogue(CATALOGUE_PATH)["entries"])
    command = [sys.executable, "-m", "seqzoo", "zoo", "list"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode:
        raise SystemExit(f"seqzoo zoo list failed ({result.returncode}): {result.stderr}")
    lines = result.stdout.splitlines()
    rows = [lines[0], *[line for line in lines[1:] if line.split()[0] in bundled]]
    return "\n".join(rows) + "\n"


def replace_table(text: str, table: str) -> str:
    """README ``text`` with the lines after ``$ seqzoo zoo list`` (up to the next ``$`` line
    or the end of the block) replaced by ``table``."""
    start = text.index(COMMAND) + len(COMMAND)
    end = start
    while end < len(text) and not text.startswith(("$", "```"), end):
        end = text.index("\n", end) + 1
    return text[:start] + table + text[end:]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README is out of date")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    updated = replace_table(text, zoo_table())
    if args.check:
        if updated != text:
            print("README's zoo table is out of date: run python scripts/readme_zoo.py")
            return 1
        return 0
    if updated != text:
        README.write_text(updated, encoding="utf-8")
        print(f"updated the zoo table in {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
