"""User patterns (a signature's subtest or message pattern) compiled with RE2.

RE2 matches in time linear in the text, so a pattern from a user cannot stall the event
loop the way a backtracking `re` pattern can; its memory is capped too. Compiled patterns
are cached: a campaign matches the same few patterns against every task it judges.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

from mozci_monitor.core.errors import SignatureError

MAX_PATTERN_CHARS = 500
# RE2's default is 8 MiB per pattern; a subtest or message pattern needs far less.
MAX_PATTERN_MEMORY = 1 << 20


def _options() -> Any:
    options = re2.Options()
    options.max_mem = MAX_PATTERN_MEMORY
    options.log_errors = False
    options.never_capture = True
    return options


def check_pattern(pattern: str) -> None:
    """Refuse a pattern RE2 cannot compile within the limits, naming why."""
    _compiled(pattern)


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise SignatureError(f"pattern longer than {MAX_PATTERN_CHARS} characters")
    try:
        return re2.compile(pattern, _options())
    except re2.error as error:
        reason = error.args[0] if error.args else error
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise SignatureError(
            f"pattern {pattern!r} is not a valid RE2 expression: {reason}"
        ) from error


def re2_search(pattern: str, text: str) -> bool:
    """The `PatternMatch` campaigns give `core.signature.judge`."""
    return _compiled(pattern).search(text) is not None
