"""Fuzzing a real message's shape: every path into a JSON document, and edits along them.

The core parser's fuzz test (tests/core/test_messages.py) and the fast decoder's
(tests/test_decoding.py) mutate the same valid message the same way.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

Path = tuple[str | int, ...]
Edit = tuple[Path, object]  # (where, the new value or KeyError for "delete it")


def json_paths(value: object, prefix: Path = ()) -> list[Path]:
    """Every path to a value inside `value` (object keys and list indices), depth first."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for name, child in value.items():
            found += json_paths(child, (*prefix, name))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += json_paths(child, (*prefix, index))
    return found


def field_edits(paths: list[Path], values: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Edit]]:
    """One to three edits: replace the value at a path, or delete it."""
    return st.lists(
        st.tuples(st.sampled_from(paths), st.one_of(st.just(KeyError), values)),
        min_size=1,
        max_size=3,
    )


def apply_edits(payload: Any, edits: list[Edit]) -> None:
    """Apply `edits` in place, in order; an edit whose path an earlier one removed or
    replaced is passed over."""
    for path, value in edits:
        target = payload
        try:
            for step in path[:-1]:
                target = target[step]
            if value is KeyError:
                del target[path[-1]]
            else:
                target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
