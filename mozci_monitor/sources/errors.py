"""Exceptions raised by every source client.

Each carries the source name, the URL (already redacted: never a secret) and
the HTTP status when there was one, so a log line or a notification can say
exactly what failed without the caller digging into the cause.
"""

from __future__ import annotations

from datetime import UTC, datetime


class SourceError(Exception):
    """A source answered with an error, or could not be reached at all."""

    def __init__(
        self,
        message: str,
        *,
        source: str,
        url: str | None = None,
        status: int | None = None,
    ) -> None:
        self.source = source
        self.url = url
        self.status = status
        self.detail = message
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"{self.source}: {self.detail}"]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.url:
            parts.append(self.url)
        return " | ".join(parts)


class TransientError(SourceError):
    """A failure worth retrying: 5xx, 429, timeout or connection error.

    Raised to callers only once every attempt has failed. `retry_after` is the
    delay the server asked for (seconds), when it sent a Retry-After header.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str,
        url: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        request_sent: bool = True,
    ) -> None:
        self.retry_after = retry_after
        # False when the connection failed before the request left: even a
        # non-idempotent call (triggering a hook) is then safe to repeat.
        self.request_sent = request_sent
        super().__init__(message, source=source, url=url, status=status)


class NotFound(SourceError):
    """The source answered 404: the thing asked for does not exist (yet)."""


class SourceUnavailable(SourceError):
    """The source's circuit breaker is open: calls are refused without trying."""

    def __init__(self, *, source: str, until: float, failures: int, probing: bool = False) -> None:
        self.until = until
        self.failures = failures
        self.probing = probing
        when = datetime.fromtimestamp(until, tz=UTC).isoformat(timespec="seconds")
        if probing:
            detail = (
                f"unavailable after {failures} consecutive failures; cool-down ended at "
                f"{when} (epoch {until:.3f}) and a probe request is deciding whether it is back"
            )
        else:
            detail = (
                f"unavailable after {failures} consecutive failures; "
                f"circuit open until {when} (epoch {until:.3f})"
            )
        super().__init__(detail, source=source)
