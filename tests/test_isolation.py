"""What every test starts from (tests/conftest.py), whatever ran before it and whatever the
shell that started pytest exported: logging as the process had it, and none of the
variables the product reads from the environment."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from mozci_monitor.logs import configure_logging

# pytest runs a module's tests in the order they are written: the first test of each pair
# leaves something behind on purpose, the second checks that it did not reach it.


def test_logging_1_a_test_leaves_logging_configured_at_warning() -> None:
    configure_logging(format="json", level="warning")


def test_logging_2_the_next_test_starts_from_the_process_defaults() -> None:
    assert not structlog.is_configured()
    formatters = [handler.formatter for handler in logging.getLogger().handlers]
    assert not any(isinstance(f, structlog.stdlib.ProcessorFormatter) for f in formatters)
    with capture_logs() as logs:
        structlog.get_logger("mozci_monitor.test").info("seen")
    assert [event["event"] for event in logs] == ["seen"]


# What an operator's shell may export: a daemon to talk to, settings, secrets, systemd's
# socket. Set for the whole module, before the per-test fixtures run, as the shell would.
OPERATOR_SHELL = {
    "MOZCI_MONITOR_API_URL": "http://127.0.0.1:8787",
    "MOZCI_MONITOR_CONFIG": "/etc/mozci-monitor/mozci-monitor.toml",
    "MOZCI_MONITOR_API_TOKEN": "operator-token",
    "PULSE_PASSWORD": "operator-password",
    "TASKCLUSTER_ROOT_URL": "https://firefox-ci-tc.services.mozilla.com",
    "TASKCLUSTER_CLIENT_ID": "mozilla-auth0/ad|Mozilla-LDAP|operator",
    "TASKCLUSTER_ACCESS_TOKEN": "operator-access-token",
    "NOTIFY_SOCKET": "/run/systemd/notify",
    "WATCHDOG_USEC": "30000000",
}


@pytest.fixture(scope="module")
def _operator_shell() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as shell:
        for name, value in OPERATOR_SHELL.items():
            shell.setenv(name, value)
        yield


@pytest.mark.usefixtures("_operator_shell")
def test_no_variable_of_the_operators_shell_reaches_a_test() -> None:
    assert [name for name in OPERATOR_SHELL if name in os.environ] == []
