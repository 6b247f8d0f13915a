"""Exceptions raised by every source client (defined in the one tree, core/errors.py).

Each carries the source name, the URL (already redacted: never a secret) and
the HTTP status when there was one.
"""

from __future__ import annotations

from mozci_monitor.core.errors import NotFound as NotFound
from mozci_monitor.core.errors import SourceError as SourceError
from mozci_monitor.core.errors import SourceUnavailable as SourceUnavailable
from mozci_monitor.core.errors import TransientError as TransientError
