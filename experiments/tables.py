"""Builds every headline table of the README and docs from committed summaries.

A table lives in a Markdown file between two markers,

    <!-- table: NAME -->
    ...
    <!-- end table: NAME -->

and everything between them is what `TABLES[NAME]` builds from the
`summary.json` files (and seeds' `results.json`) committed under
`results/`, followed by the commands that made them (the `command` each
sweep wrote beside its summaries). `python experiments/tables.py` rewrites
every block; `--check` rewrites nothing and exits with status 1, naming each
block whose text differs from what the summaries give (CI runs it), or 2
when a table's summaries are missing.

    python experiments/tables.py            # rewrite README.md and docs/*.md
    python experiments/tables.py --check    # what CI runs
"""

import argparse
import dataclasses
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
DOCUMENTS = ("README.md", "docs/*.md")
BLOCK = re.compile(
    r"(<!-- table: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)"
    r"(<!-- end table: (?P=name) -->)",
    re.DOTALL,
)


class MissingResults(Exception):
    """A table's summaries are not under results/."""


@dataclasses.dataclass(frozen=True)
class Table:
    """One headline table.

    Args:
        build: Callable `build(results_dir)` returning the Markdown of the
            table (without the commands).
        sources: The folders under `results/` it reads; their `command`
            files (one command per line) are listed below the table.
    """

    build: object
    sources: tuple


def _read_json(path):
    if not path.is_file():
        raise MissingResults(f"{path.relative_to(ROOT)} is missing")
    return json.loads(path.read_text())


def commands(sources):
    """The commands that made the summaries of `sources`, in order, once each."""
    found = []
    for source in sources:
        path = RESULTS / source / "command"
        if not path.is_file():
            raise MissingResults(f"{path.relative_to(ROOT)} is missing")
        found += [line for line in path.read_text().splitlines() if line.strip()]
    return list(dict.fromkeys(found))


def render(name):
    """The text of block `name`: the table, then its commands."""
    table = TABLES[name]
    lines = [table.build(RESULTS).rstrip(), "", "```bash"]
    lines += commands(table.sources)
    lines += ["```", ""]
    return "\n".join(lines)


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def documents():
    """The Markdown files that may hold tables."""
    paths = []
    for pattern in DOCUMENTS:
        paths += sorted(ROOT.glob(pattern))
    return paths


def update(check):
    """Rewrites (or, with `check`, compares) every block; returns problems."""
    stale, missing, seen = [], [], set()
    for path in documents():
        text = path.read_text()

        def replace(match, path=path):
            name = match.group("name")
            seen.add(name)
            if name not in TABLES:
                missing.append(f"{path.relative_to(ROOT)}: unknown table {name!r}")
                return match.group(0)
            try:
                body = render(name)
            except MissingResults as error:
                missing.append(f"{path.relative_to(ROOT)}: table {name}: {error}")
                return match.group(0)
            if body != match.group("body"):
                stale.append(f"{path.relative_to(ROOT)}: table {name}")
            return match.group(1) + body + match.group(4)

        new = BLOCK.sub(replace, text)
        if new != text and not check:
            path.write_text(new)
    unused = sorted(set(TABLES) - seen)
    return stale, missing, unused


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="rewrite nothing; exit 1 if a table differs from its summaries",
    )
    args = parser.parse_args(argv)
    stale, missing, unused = update(args.check)
    for line in missing:
        print(f"tables.py: error: {line}", file=sys.stderr)
    if missing:
        return 2
    for name in unused:
        print(f"tables.py: note: table {name} is in no document", file=sys.stderr)
    if args.check and stale:
        for line in stale:
            print(f"tables.py: differs from its summaries: {line}", file=sys.stderr)
        print("run `python experiments/tables.py` and commit", file=sys.stderr)
        return 1
    verb = "would rewrite" if args.check else "rewrote"
    print(f"tables.py: {verb} {len(stale)} table(s); {len(seen_tables())} in all")
    return 0


def seen_tables():
    names = set()
    for path in documents():
        names |= {m.group("name") for m in BLOCK.finditer(path.read_text())}
    return names


# The tables, by name; each builder is defined with its experiment's results.
TABLES = {}


if __name__ == "__main__":
    sys.exit(main())
