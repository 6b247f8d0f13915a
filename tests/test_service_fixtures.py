"""The service fixtures on a machine without the services: a skip with the reason, never an
error (and a failure in CI, where every service must be there).

Regression: without rabbitmq-server (so without a `rabbitmq` user), tests/broker.py's
private node called shutil.chown(user="rabbitmq"), which raises LookupError, and every
test using the broker errored instead of skipping.
"""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

import broker
import pg
import pytest


@pytest.fixture
def outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)


@pytest.fixture
def in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")


@pytest.fixture
def no_rabbitmq_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker, "_rabbitmq_tool", lambda name: None)
    monkeypatch.setattr(broker, "amqp_answers", lambda *args, **kwargs: False)
    monkeypatch.setattr(broker, "_wait_port", lambda up, timeout: not up)


def test_a_private_node_for_a_user_that_does_not_exist_is_made_as_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The exact failure: root, no server user. The directory is made, nothing raised."""
    monkeypatch.setattr(broker, "_SERVER_USER", "mozci-no-such-user")
    monkeypatch.setattr(broker.os, "geteuid", lambda: 0)
    monkeypatch.setattr(broker.tempfile, "tempdir", str(tmp_path))
    with pytest.raises(LookupError):  # what shutil.chown really does for this user
        shutil.chown(tmp_path, user="mozci-no-such-user")
    node = broker._PrivateNode()
    assert (node.base / "enabled_plugins").read_text() == "[].\n"
    assert node.base.parent == tmp_path


@pytest.mark.usefixtures("no_rabbitmq_installed")
def test_without_rabbitmq_server_the_broker_is_unavailable_with_the_reason() -> None:
    with pytest.raises(broker.BrokerUnavailable, match="rabbitmq-server is not installed"):
        broker._start_node_or_wait()


@pytest.mark.usefixtures("no_rabbitmq_installed")
def test_a_node_that_cannot_start_is_unavailable_not_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(broker, "_rabbitmq_tool", lambda name: str(tmp_path / "missing" / name))
    monkeypatch.setattr(broker.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(broker, "_await_amqp", lambda timeout: False)
    with pytest.raises(broker.BrokerUnavailable, match="did not start"):
        broker._start_node_or_wait()  # the server cannot even be executed (OSError)
    assert list(tmp_path.glob("mozci-rabbitmq-*")) == []  # its directory was removed


@pytest.mark.usefixtures("outside_ci")
def test_an_unavailable_broker_skips_with_the_reason() -> None:
    with pytest.raises(pytest.skip.Exception, match="no RabbitMQ broker: not installed here"):
        broker.broker_unavailable("not installed here")


@pytest.mark.usefixtures("in_ci")
def test_an_unavailable_broker_fails_in_ci() -> None:
    with pytest.raises(pytest.fail.Exception, match="RabbitMQ needed in CI: not installed here"):
        broker.broker_unavailable("not installed here")


def test_a_broker_lock_that_cannot_be_opened_is_a_reason(tmp_path: Path) -> None:
    with pytest.raises(broker.BrokerUnavailable, match="cannot open the broker lock"):
        broker._open_lock(tmp_path / "no-such-dir" / "start.lock")


def test_without_postgresql_binaries_the_server_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pg, "_pg_bin", lambda name: None)
    with pytest.raises(pg.PostgresUnavailable, match="apt-get install postgresql"):
        pg.start_private_cluster()


def test_as_root_without_a_postgres_user_the_server_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_such_user(name: str) -> pwd.struct_passwd:
        raise KeyError(name)

    monkeypatch.setattr(pg, "_pg_bin", lambda name: f"/usr/lib/postgresql/16/bin/{name}")
    monkeypatch.setattr(pg.os, "geteuid", lambda: 0)
    monkeypatch.setattr(pg.pwd, "getpwnam", no_such_user)
    with pytest.raises(pg.PostgresUnavailable, match="no `postgres` user"):
        pg.start_private_cluster()


def test_postgresql_binaries_that_cannot_run_are_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(pg, "_pg_bin", lambda name: str(tmp_path / "missing" / name))
    monkeypatch.setattr(pg.os, "geteuid", lambda: os.getuid() or 1000)  # not as root
    monkeypatch.setattr(pg.tempfile, "tempdir", str(tmp_path))
    with pytest.raises(pg.PostgresUnavailable):
        pg.start_private_cluster()
    assert list(tmp_path.glob("mozci-test-pg-*")) == []


@pytest.mark.usefixtures("outside_ci")
def test_an_unavailable_postgresql_skips_with_the_reason() -> None:
    with pytest.raises(pytest.skip.Exception, match="no PostgreSQL: gone"):
        pg._unavailable("gone")


@pytest.mark.usefixtures("in_ci")
def test_an_unavailable_postgresql_fails_in_ci() -> None:
    with pytest.raises(pytest.fail.Exception, match="PostgreSQL needed in CI: gone"):
        pg._unavailable("gone")


@pytest.mark.usefixtures("outside_ci")
def test_without_chromium_the_browser_tests_skip_with_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from api import chromium

    monkeypatch.setattr(chromium.shutil, "which", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        chromium.chromium()


@pytest.mark.usefixtures("in_ci")
def test_without_chromium_the_browser_tests_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from api import chromium

    monkeypatch.setattr(chromium.shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="chromium is not installed"):
        chromium.chromium()
