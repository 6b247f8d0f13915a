"""Every pattern a user gives (fill include/exclude, a signature's subtest or message) compiled
with RE2, in one place.

RE2 matches in time linear in the text, so a pattern from a user cannot stall the event loop
the way a backtracking `re` pattern can (`^([\\w/-]|[\\w/-])*!` froze the daemon with `re`); its
memory is capped too, and its own stderr logging is off so nothing bypasses the structured log.
Compiled patterns are cached: a campaign matches the same few patterns against every task.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol

import re2

from mozci_monitor.core.errors import PatternRefused
from mozci_monitor.core.kinds._params import MAX_PATTERN_LENGTH

# RE2's default is 8 MiB per pattern; a label, subtest or message pattern needs far less.
MAX_PATTERN_MEMORY = 1 << 20


class UserPattern(Protocol):
    """A user's pattern compiled by RE2 (the part of its interface the monitor uses)."""

    def search(self, text: str) -> object: ...


def _options() -> Any:
    options = re2.Options()
    options.max_mem = MAX_PATTERN_MEMORY
    options.log_errors = False
    options.never_capture = True
    return options


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> UserPattern:
    """The RE2 program for a user's pattern, or PatternRefused naming why."""
    if not 0 < len(pattern) <= MAX_PATTERN_LENGTH:
        raise PatternRefused(f"must be a string of 1 to {MAX_PATTERN_LENGTH} characters")
    try:
        compiled: UserPattern = re2.compile(pattern, _options())
    except re2.error as error:
        reason = error.args[0] if error.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternRefused(
            f"{pattern!r} is not a regular expression RE2 accepts: {reason}"
        ) from None
    return compiled


def check_pattern(pattern: str) -> None:
    """Refuse a pattern RE2 cannot compile within the limits (PatternRefused)."""
    compile_pattern(pattern)


def re2_search(pattern: str, text: str) -> bool:
    """The `PatternMatch` campaigns give `core.signature.judge`."""
    return compile_pattern(pattern).search(text) is not None
