"""A clone runs its tests alone: the test data is in the repository, each file with its
origin and licence, and nothing the tests or CI run reads a folder beside the clone."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests" / "fixtures" / "reference"
# Spelled in two parts so that this file does not match its own search.
SIBLING_DATA = re.compile(r"\.\./" + r"shared|parent\.parent\.parent\s*/\s*\"shared\"")


def _patterns(cell: str) -> list[str]:
    """`a/x.json, y.json` and `a/{x,y}.json` as the SOURCES table writes them."""
    parts = [part.strip().strip("`") for part in re.split(r",(?![^{]*\})", cell)]
    directory = parts[0].rpartition("/")[0]
    patterns = []
    for part in parts:
        path = part if "/" in part or not directory else f"{directory}/{part}"
        braces = re.fullmatch(r"(.*)\{([^}]*)\}(.*)", path)
        if braces:
            head, options, tail = braces.groups()
            patterns += [f"{head}{option}{tail}" for option in options.split(",")]
        else:
            patterns.append(path)
    return patterns


def _sources_rows() -> list[tuple[list[str], str]]:
    rows = []
    for line in (REFERENCE / "SOURCES.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in {"path", ""} and not set(cells[0]) <= {"-"}:
            rows.append((_patterns(cells[0]), cells[3]))
    return rows


def test_every_reference_file_has_its_origin_and_licence() -> None:
    rows = _sources_rows()
    assert rows, "SOURCES.md has no table rows"
    files = sorted(
        path.relative_to(REFERENCE).as_posix()
        for path in REFERENCE.rglob("*")
        if path.is_file() and path.name != "SOURCES.md"
    )
    assert len(files) >= 20  # the data really is in the repository
    for name in files:
        licences = [
            licence
            for patterns, licence in rows
            if any(fnmatch.fnmatch(name, pattern) for pattern in patterns)
        ]
        assert licences, f"{name} is not listed in tests/fixtures/reference/SOURCES.md"
        assert all(licence == "MPL-2.0" for licence in licences), (name, licences)


def test_the_brace_and_comma_rows_are_read_as_written() -> None:
    assert _patterns("taskcluster/{queue,hooks}-api.json") == [
        "taskcluster/queue-api.json",
        "taskcluster/hooks-api.json",
    ]
    assert _patterns("treeherder/hg_push.json, hg_push_commits.json") == [
        "treeherder/hg_push.json",
        "treeherder/hg_push_commits.json",
    ]


def test_nothing_reads_data_beside_the_clone() -> None:
    checked = [ROOT / "pyproject.toml", *(ROOT / ".ci").iterdir()]
    for folder in ("tests", "bench", "mozci_monitor"):
        checked += [
            path
            for path in (ROOT / folder).rglob("*")
            if path.is_file() and path.suffix in {".py", ".toml", ".cfg", ".ini", ".sh", ""}
        ]
    offenders = [
        path.relative_to(ROOT).as_posix()
        for path in checked
        if path.is_file() and SIBLING_DATA.search(path.read_text(errors="replace"))
    ]
    assert offenders == []
    assert len(checked) > 50  # the walk found the code it is meant to check


# Tests write under their own temporary directories (tmp_path, mkdtemp), never to a fixed
# name in the system temp dir that two sessions (or two engineers) would overwrite.
FIXED_TEMP_PATH = re.compile(r"gettempdir\(\)|[\"']/tmp/")
SHARED_ON_PURPOSE = {
    # The broker's start and users locks: every pytest session on the machine must find
    # the same two files to share one node on port 5672. They hold no data.
    "tests/broker.py",
}


def test_tests_write_no_fixed_path_in_the_temp_dir() -> None:
    sources = sorted((ROOT / "tests").rglob("*.py"))
    offenders = [
        path.relative_to(ROOT).as_posix()
        for path in sources
        if path != Path(__file__).resolve()
        and FIXED_TEMP_PATH.search(path.read_text())
        and path.relative_to(ROOT).as_posix() not in SHARED_ON_PURPOSE
    ]
    assert offenders == []
    assert {name for name in SHARED_ON_PURPOSE if (ROOT / name).is_file()} == SHARED_ON_PURPOSE
