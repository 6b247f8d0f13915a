"""Every exception mozci-monitor raises on purpose, under one root.

    MozciMonitorError
    ├── ConfigError              the settings are wrong (the message names the key)
    │   ├── NotifyConfigError    a notification sink is misconfigured
    │   └── PulseSettingsError   the Pulse connection settings are wrong
    ├── InputError               input from outside is refused; also a ValueError
    │   ├── MalformedMessage     a Pulse message that cannot be applied (recorded and acked)
    │   ├── SubmissionError      a campaign submission is refused (API 4xx, CLI exit 2)
    │   ├── SignatureError       a failure signature is refused
    │   └── PatternRefused       RE2 cannot compile a user's pattern within the limits
    ├── SourceError              a remote source (Taskcluster, Treeherder, hg) failed
    │   ├── TransientError       worth retrying: 5xx, 429, timeout, connection reset
    │   ├── NotFound             404
    │   ├── SourceUnavailable    the circuit breaker is open
    │   └── ActionError          an in-tree action cannot be rendered or triggered
    │       └── ActionNotFound   the push's actions.json offers no matching action
    ├── StoreError               the store cannot do what was asked (unwritable, corrupt)
    ├── NotificationError        a notification sink failed to deliver
    ├── PulseError               the broker connection failed
    │   └── PulseConnectError    could not connect (also a ConnectionError)
    ├── ActionFailed             an action cannot succeed however often it is tried (given up)
    ├── ApiClientError           the CLI could not talk to the daemon's API
    ├── SimulatorError           the simulator refused a call, as the real service would
    └── Stopped                  not a failure: unwinds a worker that was asked to stop

Modules define their own subclasses where they need more fields, but always under the
branch above; catching `MozciMonitorError` catches everything deliberate, and nothing else.
Only the standard library is used: the pure core raises these too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime


class MozciMonitorError(Exception):
    """The root: every deliberate error of mozci-monitor."""


class ConfigError(MozciMonitorError, ValueError):
    """The configuration is wrong; the message names the key."""


class NotifyConfigError(ConfigError):
    """A notification sink is misconfigured."""


class PulseSettingsError(ConfigError):
    """The Pulse connection settings are wrong."""


class InputError(MozciMonitorError, ValueError):
    """Input from outside the process is refused."""


class MalformedMessage(InputError):
    """A Pulse message that cannot be applied: recorded with its reason and acked.

    `reason` says why in one line.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SubmissionError(InputError):
    """A campaign submission is refused; the message says which field and why."""

    def __init__(self, message: str, *, field: str | None = None, status: int = 400) -> None:
        self.field = field
        self.status = status
        super().__init__(message)


class SignatureError(InputError):
    """A failure signature (test, crash, group) or one of its patterns is refused."""


class PatternRefused(InputError):
    """A user's regular expression that RE2 cannot compile within the limits."""


class SourceError(MozciMonitorError):
    """A remote source answered with an error, or could not be reached at all.

    Carries the source name, the URL (already redacted: never a secret) and the HTTP status
    when there was one, so a log line or a notification can say exactly what failed without
    the caller digging into the cause.
    """

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


class ActionError(SourceError):
    """actions.json cannot give the requested action (bad version, kind, template).

    The message stands alone: it already says which action and why.
    """

    def __init__(self, message: str, *, source: str = "actions.json") -> None:
        super().__init__(message, source=source)

    def _describe(self) -> str:
        return self.detail


class ActionNotFound(ActionError):
    """The push's actions.json offers no action that fits."""

    def __init__(self, name: str, available: Sequence[str], *, for_task: bool) -> None:
        self.name = name
        self.available = tuple(available)
        scope = "this task" if for_task else "the task group"
        super().__init__(
            f"action {name!r} is not available for {scope}; "
            f"available: {', '.join(sorted(self.available)) or 'none'}"
        )


class StoreError(MozciMonitorError):
    """The store cannot do what was asked (unwritable, corrupt, unknown id)."""


class NotificationError(MozciMonitorError):
    """A sink could not deliver a notification; the caller may retry it later.

    The message names the sink and the notification key, and never contains secrets
    (webhook paths, passwords), so it is safe to log.
    """

    def __init__(self, sink: str, key: str, reason: str) -> None:
        super().__init__(f"{sink} sink could not deliver notification {key!r}: {reason}")
        self.sink = sink
        self.key = key
        self.reason = reason


class PulseError(MozciMonitorError):
    """The broker connection failed."""


class PulseConnectError(PulseError, ConnectionError):
    """Could not connect to the broker."""


class ActionFailed(MozciMonitorError):
    """An action cannot succeed however often it is tried: it is given up, not retried."""


class ApiClientError(MozciMonitorError):
    """The CLI could not talk to the daemon's API (`status` 0), or the API refused the call."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.field = field


class SimulatorError(MozciMonitorError):
    """The simulator refused a call, as the real service would."""


class Stopped(MozciMonitorError):
    """Not a failure: raised to unwind a worker that was asked to stop, once it has."""
