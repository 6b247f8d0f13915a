"""A real RabbitMQ broker for tests (loaded as a pytest plugin from tests/conftest.py).

Fixtures:
    rabbitmq        session-scoped `RabbitMQ`: uses the broker already answering on
                    127.0.0.1:5672, else starts a private node (rabbitmq-server -detached,
                    data under a temp dir) and stops it at session end; skips when no
                    broker can be had (fails instead when env CI is set).
    rabbitmq_chaos  the same object, function-scoped: after the test it thaws a frozen
                    broker and restarts a stopped app, so chaos tests cannot break the
                    tests that follow them.

Helpers: `publish`, `publish_many`, `unique_queue_name`.

Mark tests that use these with `@pytest.mark.rabbitmq`, and give every test its own
queue names (`unique_queue_name()`): the broker is shared by the whole session and, on a
developer machine, possibly by other pytest sessions running at the same time.

Several pytest sessions may share one node this module started: starting is serialised
by a lock file, and each session holds a shared lock while it uses the broker; the session
that started the node stops it only if no other session holds that lock (otherwise the node
is left running for them).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

import kombu
import pytest

HOST = "127.0.0.1"
PORT = 5672
URL = f"amqp://guest:guest@{HOST}:{PORT}//"

# Fixed names on purpose: every pytest session on this machine (several engineers', or
# xdist workers) must find the same locks to share one node on port 5672 and to let the
# session that started it know whether another still uses it. They hold no data.
_LOCK_DIR = Path(tempfile.gettempdir())
_START_LOCK = _LOCK_DIR / "mozci-monitor-rabbitmq.start.lock"
_USERS_LOCK = _LOCK_DIR / "mozci-monitor-rabbitmq.users.lock"
_STARTUP_TIMEOUT = 60.0
# py-amqp's default TCP_USER_TIMEOUT (1 s) drops publishers that a busy broker throttles.
_TRANSPORT_OPTIONS = {"socket_settings": {socket.TCP_USER_TIMEOUT: 30_000}}
_CTL_TIMEOUT = 60.0
_CTL_ATTEMPTS = 3
_SERVER_USER = "rabbitmq"  # Debian's wrappers run the node as this user


class BrokerUnavailable(Exception):
    """No broker answers and none could be started."""


def broker_unavailable(reason: str) -> NoReturn:
    """Skip the test with the reason; in CI (env CI set) fail it instead."""
    if os.environ.get("CI"):
        pytest.fail(f"RabbitMQ needed in CI: {reason}")
    pytest.skip(f"no RabbitMQ broker: {reason}")


@dataclass(frozen=True)
class Binding:
    exchange: str
    routing_key: str


def unique_queue_name(prefix: str = "test") -> str:
    """A Pulse-style queue name no other test uses: queue/mozci-test/<prefix>-<hex>."""
    return f"queue/mozci-test/{prefix}-{uuid.uuid4().hex[:12]}"


def amqp_answers(host: str = HOST, port: int = PORT, timeout: float = 2.0) -> bool:
    """True if an AMQP broker accepts guest/guest on host:port (not merely an open port)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError:
        return False
    conn = kombu.Connection(f"amqp://guest:guest@{host}:{port}//", connect_timeout=timeout)
    try:
        conn.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False
    finally:
        conn.release()


def _wait_port(up: bool, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, PORT), timeout=0.5):
                is_up = True
        except OSError:
            is_up = False
        if is_up == up:
            return True
        time.sleep(0.1)
    return False


def _rabbitmq_tool(name: str) -> str | None:
    # Debian puts the wrappers (which su to the rabbitmq user) in /usr/sbin, not always on PATH.
    found = shutil.which(name)
    if found:
        return found
    candidate = Path("/usr/sbin") / name
    return str(candidate) if candidate.exists() else None


def _run(
    cmd: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = _CTL_TIMEOUT
) -> str:
    proc = subprocess.run(
        list(cmd),
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"exit {proc.returncode}: {' '.join(cmd)}: {proc.stdout.strip()} {proc.stderr.strip()}"
        )
    return proc.stdout


_RETRYABLE = ("exit 69:", "exit 75:")


class RabbitMQ:
    """A broker the tests can reach at `.url` and, when rabbitmqctl is available, disturb."""

    def __init__(self, url: str = URL, *, node: str | None = None, pid_file: Path | None = None):
        self.url = url
        self.node = node or os.environ.get("RABBITMQ_NODENAME") or None
        self._pid_file = pid_file
        self._ctl = _rabbitmq_tool("rabbitmqctl")
        self._beam_pid: int | None = None
        self.frozen = False

    # -- control through rabbitmqctl ---------------------------------------------------

    @property
    def can_control(self) -> bool:
        return self._ctl is not None

    def ctl(self, *args: str, timeout: float = _CTL_TIMEOUT) -> str:
        """Run rabbitmqctl against this node and return its stdout."""
        if self._ctl is None:
            raise RuntimeError("rabbitmqctl not found: this broker cannot be controlled")
        node_args = ["-n", self.node] if self.node else []
        for attempt in range(_CTL_ATTEMPTS):
            try:
                return _run([self._ctl, *node_args, *args], timeout=timeout)
            except RuntimeError as exc:
                # A loaded machine makes the CLI miss its node now and then (exit 69/75).
                if attempt == _CTL_ATTEMPTS - 1 or not str(exc).startswith(_RETRYABLE):
                    raise
                time.sleep(1.0)
        raise AssertionError("unreachable")

    def stop_app(self) -> None:
        """Stop the RabbitMQ application (connections drop, the Erlang node stays up)."""
        self.ctl("stop_app")
        _wait_port(up=False, timeout=10)

    def start_app(self) -> None:
        """Start the application again; returns once it accepts AMQP connections."""
        self.ctl("start_app")
        self.ctl("await_startup", "--timeout", str(int(_STARTUP_TIMEOUT)))
        if not _wait_port(up=True, timeout=_STARTUP_TIMEOUT):
            raise RuntimeError("broker did not listen again after start_app")

    def beam_pid(self) -> int:
        if self._beam_pid is None:
            if self._pid_file is not None and self._pid_file.exists():
                self._beam_pid = int(self._pid_file.read_text().strip())
            else:
                out = self.ctl("eval", "os:getpid().")
                self._beam_pid = int(out.strip().strip('"'))
        return self._beam_pid

    def freeze(self) -> None:
        """SIGSTOP the broker's Erlang VM: sockets stay open but nothing answers."""
        pid = self.beam_pid()  # before stopping it: rabbitmqctl needs a live node
        os.kill(pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        if self._beam_pid is not None:
            os.kill(self._beam_pid, signal.SIGCONT)
        self.frozen = False

    def list_bindings(self, queue: str) -> list[Binding]:
        """Bindings to `queue` from named exchanges (the default exchange's is left out)."""
        out = self.ctl(
            "list_bindings",
            "-q",
            "--formatter",
            "json",
            "source_name",
            "destination_name",
            "destination_kind",
            "routing_key",
        )
        rows: list[dict[str, Any]] = json.loads(out) if out.strip() else []
        return sorted(
            (
                Binding(exchange=row["source_name"], routing_key=row["routing_key"])
                for row in rows
                if row["destination_name"] == queue
                and row["destination_kind"] == "queue"
                and row["source_name"]
            ),
            key=lambda b: (b.exchange, b.routing_key),
        )

    def restore(self) -> None:
        """Undo chaos: thaw a frozen VM and start a stopped app."""
        if self.frozen:
            self.thaw()
        if not amqp_answers():
            self.start_app()

    # -- queue operations over AMQP ----------------------------------------------------

    @contextlib.contextmanager
    def _channel(self) -> Iterator[Any]:
        with kombu.Connection(
            self.url, connect_timeout=5, transport_options=_TRANSPORT_OPTIONS
        ) as conn:
            channel = conn.channel()
            try:
                yield channel
            finally:
                with contextlib.suppress(Exception):
                    channel.close()

    def queue_exists(self, name: str) -> bool:
        try:
            with self._channel() as channel:
                channel.queue_declare(queue=name, passive=True)
            return True
        except Exception as exc:
            if getattr(exc, "code", None) == 404:
                return False
            raise

    def queue_depth(self, name: str) -> int:
        """Messages ready in the queue (not counting those delivered and unacked)."""
        with self._channel() as channel:
            return int(channel.queue_declare(queue=name, passive=True).message_count)

    def consumer_count(self, name: str) -> int:
        with self._channel() as channel:
            return int(channel.queue_declare(queue=name, passive=True).consumer_count)

    def delete_queue(self, name: str) -> None:
        """Delete a queue as PulseGuardian does: its consumers get basic.cancel."""
        with self._channel() as channel:
            channel.queue_delete(queue=name)

    def purge_queue(self, name: str) -> int:
        with self._channel() as channel:
            return int(channel.queue_purge(queue=name) or 0)


# -- publishing -----------------------------------------------------------------------


def _exchange(name: str) -> kombu.Exchange:
    # Same declaration as Taskcluster's (and the consumer's): durable topic exchange.
    return kombu.Exchange(name, type="topic", durable=True)


def publish(
    url: str,
    exchange: str,
    routing_key: str,
    body: bytes | str | dict[str, Any],
    cc: Sequence[str] | None = None,
) -> None:
    """Publish one persistent message; `cc` adds routing keys as Taskcluster does (CC header)."""
    publish_many(url, exchange, [(routing_key, body)], cc=cc)


def publish_many(
    url: str,
    exchange: str,
    messages: Iterable[tuple[str, bytes | str | dict[str, Any]]],
    cc: Sequence[str] | None = None,
) -> int:
    """Publish (routing_key, body) pairs over one connection; returns how many were sent."""
    ex = _exchange(exchange)
    count = 0
    with kombu.Connection(url, connect_timeout=5, transport_options=_TRANSPORT_OPTIONS) as conn:
        channel = conn.channel()
        ex(channel).declare()
        producer = kombu.Producer(channel, exchange=ex)
        headers = {"CC": list(cc)} if cc else None
        for routing_key, body in messages:
            if isinstance(body, dict):
                payload, content_type = json.dumps(body).encode(), "application/json"
            elif isinstance(body, str):
                payload, content_type = body.encode(), "application/json"
            else:
                payload, content_type = body, "application/octet-stream"
            producer.publish(
                payload,
                routing_key=routing_key,
                content_type=content_type,
                content_encoding="utf-8" if content_type == "application/json" else "binary",
                delivery_mode=2,
                headers=headers,
                retry=False,
            )
            count += 1
        channel.close()
    return count


# -- node lifecycle -------------------------------------------------------------------


class _PrivateNode:
    """A node started by this module, with its data under a temp dir owned by `rabbitmq`."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="mozci-rabbitmq-"))
        self.pid_file = self.base / "rabbitmq.pid"
        self._env = os.environ.copy()
        self._env.update(
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_PID_FILE=str(self.pid_file),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
            RABBITMQ_NODE_IP_ADDRESS=HOST,
            RABBITMQ_NODE_PORT=str(PORT),
        )
        (self.base / "enabled_plugins").write_text("[].\n")
        if os.geteuid() == 0:
            # The node runs as the server user and must own its data. shutil.chown raises
            # LookupError (not only KeyError) for an unknown user: then start() fails and
            # says why, rather than the fixture erroring.
            with contextlib.suppress(LookupError, PermissionError):
                for path in (self.base, self.base / "enabled_plugins"):
                    shutil.chown(path, user=_SERVER_USER, group=_SERVER_USER)

    def start(self) -> None:
        server, ctl = _installed_tools()
        try:
            _run([server, "-detached"], env=self._env)
            _run(
                [ctl, "wait", str(self.pid_file), "--timeout", str(int(_STARTUP_TIMEOUT))],
                env=self._env,
                timeout=_STARTUP_TIMEOUT + 10,
            )
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            raise BrokerUnavailable(
                f"rabbitmq-server did not start: {exc}; logs in {self.base}"
            ) from exc
        if not _wait_port(up=True, timeout=_STARTUP_TIMEOUT):
            raise BrokerUnavailable(
                f"rabbitmq started but 5672 does not answer; logs in {self.base}"
            )

    def stop(self) -> None:
        ctl = _rabbitmq_tool("rabbitmqctl")
        # `rabbitmqctl stop` halts whatever node holds the default name: only call it while
        # our own VM is alive (a second node with that name cannot stay up).
        if ctl is not None and self._our_node_is_running():
            with contextlib.suppress(Exception):
                _run([ctl, "stop", str(self.pid_file)], env=self._env)
        shutil.rmtree(self.base, ignore_errors=True)

    def _our_node_is_running(self) -> bool:
        try:
            os.kill(int(self.pid_file.read_text().strip()), 0)
        except (OSError, ValueError):
            return False
        return True


def _installed_tools() -> tuple[str, str]:
    server, ctl = _rabbitmq_tool("rabbitmq-server"), _rabbitmq_tool("rabbitmqctl")
    if server is None or ctl is None:
        raise BrokerUnavailable(
            "rabbitmq-server is not installed (sudo apt-get install rabbitmq-server)"
        )
    return server, ctl


def _await_amqp(timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not amqp_answers(timeout=1.0):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def _start_node_or_wait() -> _PrivateNode | None:
    """Start a private node; if another session's broker is merely disturbed, wait for it."""
    if _wait_port(up=True, timeout=0.1):
        # Open but not answering: another session froze or is booting it.
        if _await_amqp(_STARTUP_TIMEOUT):
            return None
        raise BrokerUnavailable(f"{HOST}:{PORT} is open but does not speak AMQP as guest")
    _installed_tools()  # before making a node's directory for nothing
    node = _PrivateNode()
    try:
        node.start()
        return node
    except BrokerUnavailable:
        node.stop()
        # The node name may be taken by a broker whose app another session stopped.
        if _await_amqp(_STARTUP_TIMEOUT / 2):
            return None
        raise


def _open_lock(path: Path) -> IO[str]:
    try:
        handle = path.open("a")
    except OSError as exc:  # e.g. made by another user, and the temp dir is sticky
        raise BrokerUnavailable(f"cannot open the broker lock {path}: {exc}") from exc
    with contextlib.suppress(PermissionError):
        os.chmod(path, 0o666)
    return handle


@contextlib.contextmanager
def _broker_session() -> Iterator[RabbitMQ]:
    users = _open_lock(_USERS_LOCK)
    node: _PrivateNode | None = None
    try:
        with _open_lock(_START_LOCK) as start_lock:
            fcntl.flock(start_lock, fcntl.LOCK_EX)
            if not amqp_answers():
                node = _start_node_or_wait()
            fcntl.flock(users, fcntl.LOCK_SH)
        broker = RabbitMQ(URL, pid_file=node.pid_file if node else None)
        yield broker
        with contextlib.suppress(Exception):
            broker.restore()  # leave the broker usable for the next session
    finally:
        if node is not None:
            # Under the start lock, so no session can find the node up and then lose it.
            with _open_lock(_START_LOCK) as start_lock:
                fcntl.flock(start_lock, fcntl.LOCK_EX)
                fcntl.flock(users, fcntl.LOCK_UN)
                try:
                    fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pass  # another pytest session still uses the node: leave it running
                else:
                    node.stop()
        users.close()


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[RabbitMQ]:
    """The shared broker; skips without one (fails when env CI is set)."""
    try:
        with _broker_session() as broker:
            yield broker
    except BrokerUnavailable as exc:
        broker_unavailable(str(exc))


@pytest.fixture
def rabbitmq_chaos(rabbitmq: RabbitMQ) -> Iterator[RabbitMQ]:
    """The shared broker for tests that stop or freeze it; restored after each test."""
    if not rabbitmq.can_control:
        if os.environ.get("CI"):
            pytest.fail("rabbitmqctl needed in CI for broker chaos tests")
        pytest.skip("rabbitmqctl not available: cannot stop/freeze the broker")
    try:
        yield rabbitmq
    finally:
        rabbitmq.restore()
