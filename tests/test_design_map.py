"""DESIGN.md's "## Layout" map names every module of the package, and nothing else.

The map is the fenced block under "## Layout". A line whose first word ends in ``/`` is a
directory heading; the lines indented two spaces deeper below it are its entries. An entry
line starts with one or more file names (``verify.py inspect.py export.py``), then the
description; lines indented deeper than an entry are continuations of a description.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = "persistkit"
SUFFIXES = (".py", ".pyx", ".pxd")  # sources only: no .c / .so build artefacts
FILE = re.compile(r"^[\w.-]+\.(?:py|pyx|pxd)$")
DIR = re.compile(r"^[\w.-]+/$")


def layout_block() -> list[str]:
    text = (ROOT / "DESIGN.md").read_text()
    section = text.split("\n## Layout\n", 1)[1]
    block = re.search(r"^```[^\n]*\n(.*?)^```", section, re.S | re.M)
    assert block, 'DESIGN.md: no fenced block under "## Layout"'
    return block.group(1).splitlines()


def map_entries(lines: list[str]) -> tuple[set[str], set[str]]:
    """(files, directories) the map names, as paths relative to the repository root."""
    files: set[str] = set()
    dirs: set[str] = set()
    headings: list[tuple[int, str]] = []  # (indent, path) of the open directory headings
    for line in lines:
        words = line.split()
        if not words:
            continue
        indent = len(line) - len(line.lstrip(" "))
        if headings and indent > headings[-1][0] + 2:
            continue  # a description's continuation line
        while headings and headings[-1][0] >= indent:
            headings.pop()
        parent = headings[-1][1] if headings else ""
        if DIR.match(words[0]):
            path = parent + words[0]
            headings.append((indent, path))
            dirs.add(path.rstrip("/"))
            continue
        for word in words:
            if not FILE.match(word):
                break
            files.add(parent + word)
    return files, dirs


def tree_files() -> set[str]:
    return {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / PKG).rglob("*")
        if p.suffix in SUFFIXES and p.name != "__init__.py" and "__pycache__" not in p.parts
    }


def test_layout_map_matches_the_package_tree():
    files, dirs = map_entries(layout_block())
    listed = {f for f in files if f.startswith(PKG + "/")}
    on_disk = tree_files()
    missing = sorted(on_disk - listed)
    stale = sorted(f for f in listed if not (ROOT / f).is_file())
    stale_dirs = sorted(d for d in dirs if d.startswith(PKG) and not (ROOT / d).is_dir())
    problems = []
    if missing:
        problems.append("modules missing from DESIGN.md's Layout map (add each under its "
                        "directory heading):\n  " + "\n  ".join(missing))
    if stale:
        problems.append("files the Layout map names that do not exist (renamed? removed? "
                        "under the wrong heading?):\n  " + "\n  ".join(stale))
    if stale_dirs:
        problems.append("directory headings of the Layout map that do not exist:\n  "
                        + "\n  ".join(stale_dirs))
    assert not problems, "\n".join(problems)


def test_the_parser_reads_the_map_style():
    lines = [
        "persistkit/",
        "  cli.py                 entry point",
        "                         continued, naming other.py in passing",
        "  rdbtools/",
        "    verify.py inspect.py   library side (+ see salvage.py)",
        "    memory/              estimates",
        "      sizes.py           facts",
        "    writer.py            writer",
        "fixtures/   files",
    ]
    files, dirs = map_entries(lines)
    assert files == {"persistkit/cli.py", "persistkit/rdbtools/verify.py",
                     "persistkit/rdbtools/inspect.py", "persistkit/rdbtools/memory/sizes.py",
                     "persistkit/rdbtools/writer.py"}
    assert dirs == {"persistkit", "persistkit/rdbtools", "persistkit/rdbtools/memory", "fixtures"}
