"""Every exception mozci-monitor raises on purpose, under one root.

    MozciMonitorError
    ├── ConfigError              the settings are wrong (the message names the key)
    │   ├── NotifyConfigError    a notification sink is misconfigured
    │   └── PulseSettingsError   the Pulse connection settings are wrong
    ├── InputError               input from outside is refused; also a ValueError
    │   ├── MalformedMessage     a Pulse message that cannot be applied (recorded and acked)
    │   └── SubmissionError      a campaign submission is refused (API 4xx, CLI exit 2)
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
    ├── ApiClientError           the CLI could not talk to the daemon's API
    └── SimulatorError           the simulator refused a call, as the real service would

Modules define their own subclasses where they need more fields, but always under the
branch above; catching `MozciMonitorError` catches everything deliberate, and nothing else.
Only the standard library is used: the pure core raises these too.
"""

from __future__ import annotations


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
    """A Pulse message that cannot be applied: recorded with its reason and acked."""


class SubmissionError(InputError):
    """A campaign submission is refused; the message says which field and why."""

    def __init__(self, message: str, *, field: str | None = None, status: int = 400) -> None:
        self.field = field
        self.status = status
        super().__init__(message)


class SourceError(MozciMonitorError):
    """A remote source answered with an error, or could not be reached at all."""


class TransientError(SourceError):
    """A failure worth retrying: 5xx, 429, timeout or connection error."""


class NotFound(SourceError):
    """The source says the thing does not exist (HTTP 404)."""


class SourceUnavailable(SourceError):
    """The source's circuit breaker is open: no request was sent."""


class ActionError(SourceError):
    """An in-tree action cannot be rendered or triggered."""


class ActionNotFound(ActionError):
    """The push's actions.json offers no action that fits."""


class StoreError(MozciMonitorError):
    """The store cannot do what was asked (unwritable, corrupt, unknown id)."""


class NotificationError(MozciMonitorError):
    """A notification sink failed to deliver."""


class PulseError(MozciMonitorError):
    """The broker connection failed."""


class PulseConnectError(PulseError, ConnectionError):
    """Could not connect to the broker."""


class ApiClientError(MozciMonitorError):
    """The CLI could not talk to the daemon's API, or the API refused the call."""


class SimulatorError(MozciMonitorError):
    """The simulator refused a call, as the real service would."""
