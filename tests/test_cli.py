"""The command line, driven in-process: watch, list, show, replay, check-config."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from store.pulse_builder import GROUP, LABEL, OTHER_GROUP, FakeTask, make_request, slug
from support.offline_cli import REVISION, every_push_agrees, watch_argv

from mozci_monitor.cli import main
from mozci_monitor.engine import Engine
from mozci_monitor.store.sqlite import SqliteStore

REF_GROUP = "XrWNyFwpT2in-wLY9frb-w"
REF_TASK = "A35mWTRuQmyj88yMnIF0fA"  # a task-pending message of REF_GROUP


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    every_push_agrees(monkeypatch)  # made-up pushes, no network: see support/offline_cli.py


AT = "2026-11-22T10:00:00.000Z"


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str], store: Path) -> None:
        self._capsys = capsys
        self.store = store

    def __call__(self, *args: str, store: bool = True) -> tuple[int, str, str]:
        """Run `mozci-monitor ARGS [--store STORE]`; returns (exit code, stdout, stderr)."""
        self._capsys.readouterr()
        argv = [*args, "--store", str(self.store)] if store else list(args)
        code = main(argv)
        out, err = self._capsys.readouterr()
        return code, out, err

    def watch(self, *extra: str, group: str = GROUP, label: str = LABEL) -> str:
        code, out, _ = self(*watch_argv(group, label, *extra))
        assert code == 0
        return out.strip() + "-r1"  # watch prints its campaign; the request is its first


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "state.sqlite3"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], store_path: Path) -> Cli:
    return Cli(capsys, store_path)


def _dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        return list(connection.iterdump())


def _open(path: Path) -> SqliteStore:
    return SqliteStore(path)


def _reference_lines(reference_dir: Path, *, with_labels: bool = False) -> list[str]:
    """The 91 real messages in the replay format; labels from the task definitions if asked."""
    treeherder = reference_dir / "treeherder"
    messages: dict[str, dict[str, Any]] = json.loads(
        (treeherder / "taskcluster_pulse_messages.json").read_text()
    )
    tasks: dict[str, dict[str, Any]] = json.loads(
        (treeherder / "taskcluster_tasks.json").read_text()
    )
    lines = []
    for task_id, message in messages.items():
        payload = message["payload"]
        if with_labels:
            payload = {**payload, "task": {"tags": tasks[task_id]["tags"]}}
        record = {
            "exchange": message["exchange"],
            "routing_key": message["routes"],
            "payload": payload,
        }
        lines.append(json.dumps(record))
    return lines


def _write_lines(tmp_path: Path, lines: list[str], name: str = "messages.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


# -- watch, list, show ----------------------------------------------------------------------------


def test_watch_prints_the_new_campaign_id(cli: Cli, store_path: Path) -> None:
    code, out, err = cli(
        *watch_argv(GROUP, LABEL, "--times", "2", "--task-id", slug(1), "--task-id", slug(1))
    )
    assert code == 0
    campaign_id = out.strip()
    assert re.fullmatch(r"c-[0-9a-f]{10}", campaign_id), out
    request_id = campaign_id + "-r1"
    assert f"watching {LABEL} x2 on autoland@{REVISION[:12]}" in err
    store = _open(store_path)
    try:
        request = store.get_request(request_id)
        assert request is not None
        assert (request.label, request.wanted, request.push.task_group_id) == (LABEL, 2, GROUP)
        assert request.task_ids == (slug(1),), "repeated --task-id kept once"
    finally:
        store.close()


def test_watch_refuses_times_below_one(cli: Cli) -> None:
    code, out, err = cli(*watch_argv(GROUP, LABEL, "--times", "0"))
    assert (code, out) == (2, "")
    assert "--times: must be an integer from 1 to 100" in err


def test_watch_ids_are_distinct(cli: Cli) -> None:
    assert len({cli.watch() for _ in range(5)}) == 5


def test_list_requests_table_and_json(cli: Cli, store_path: Path) -> None:
    code, out, _ = cli("list", "--requests")
    assert (code, out.strip()) == (0, "no requests")

    first = cli.watch()
    second = cli.watch("--times", "3", label="test-windows10-64/debug-xpcshell-3")
    code, out, _ = cli("list", "--requests")
    assert code == 0
    header, *rows = out.strip().splitlines()
    assert header.split() == ["ID", "STATE", "RUNS", "PUSH", "LABEL"]
    assert len(rows) == 2
    by_id = {row.split()[0]: row.split() for row in rows}
    assert by_id[first] == [first, "scheduled", "1", f"autoland@{REVISION[:12]}", LABEL]
    assert by_id[second][1:3] == ["scheduled", "3"]

    code, out, _ = cli("list", "--requests", "--json")
    assert code == 0
    listed = {item["id"]: item for item in json.loads(out)}
    assert set(listed) == {first, second}
    expected = {
        "id": first,
        "state": "scheduled",
        "failure": None,
        "reason": None,
        "label": LABEL,
        "wanted": 1,
        "repo": "autoland",
        "revision": REVISION,
        "task_group_id": GROUP,
        "campaign_id": first.removesuffix("-r1"),
        "task_ids": [],
    }
    assert {key: listed[first].get(key) for key in expected} == expected


def test_list_requests_open_leaves_out_final_requests(cli: Cli, tmp_path: Path) -> None:
    done = cli.watch()
    still = cli.watch(label="test-windows10-64/debug-xpcshell-3")
    lines = [m.jsonl() for m in FakeTask(slug(1)).lifecycle("completed")]
    assert cli("replay", str(_write_lines(tmp_path, lines)))[0] == 0

    code, out, _ = cli("list", "--requests", "--open", "--json")
    assert code == 0
    assert [item["id"] for item in json.loads(out)] == [still]
    code, out, _ = cli("list", "--requests", "--json")
    states = {item["id"]: item["state"] for item in json.loads(out)}
    assert states == {done: "completed", still: "scheduled"}


def test_show_by_unique_prefix_text(cli: Cli, tmp_path: Path) -> None:
    request_id = cli.watch()
    code, out, _ = cli("show", request_id)
    assert code == 0
    assert out.splitlines()[0] == f"request {request_id}: scheduled"
    assert f"label:   {LABEL} x1" in out
    assert f"push:    autoland@{REVISION} group {GROUP}" in out
    assert "tasks:\n  (none seen yet)\ntimeline:" in out
    assert re.search(r"^  \S+Z  registered\s.*label=" + re.escape(LABEL), out, re.M)

    task = FakeTask(slug(1))
    _write_lines(tmp_path, [task.pending().jsonl(), task.running().jsonl()])
    assert cli("replay", str(tmp_path / "messages.jsonl"))[0] == 0
    code, out, _ = cli("show", request_id)
    assert code == 0
    assert out.splitlines()[0] == f"request {request_id}: running"
    assert f"  {slug(1)}  running  runs=1" in out
    assert "phase=running" in out and "state=running" in out


def test_show_json_has_tasks_and_timeline(cli: Cli, tmp_path: Path) -> None:
    request_id = cli.watch()
    lines = [m.jsonl() for m in FakeTask(slug(1)).lifecycle("failed")]
    assert cli("replay", str(_write_lines(tmp_path, lines)))[0] == 0

    code, out, _ = cli("show", request_id, "--json")
    assert code == 0
    document = json.loads(out)
    assert document["id"] == request_id
    assert (document["state"], document["failure"]) == ("failed", "orange")
    assert document["reason"] == "1 of 1 runs failed"
    assert document["task_ids"] == [slug(1)]
    assert document["tasks"] == [
        {"task_id": slug(1), "phase": "orange", "reason": "failed", "runs": 1}
    ]
    timeline = document["timeline"]
    assert [entry["kind"] for entry in timeline][:2] == ["registered", "task-seen"]
    assert timeline[-1]["kind"] == "state"
    assert timeline[-1]["detail"]["state"] == "failed"
    seqs = [entry["seq"] for entry in timeline]
    assert seqs == sorted(seqs)
    assert all(entry["at"].endswith("Z") for entry in timeline)


def test_show_ambiguous_or_missing_prefix_exits_1(cli: Cli, store_path: Path) -> None:
    store = _open(store_path)
    engine = Engine(store)
    engine.register(make_request("abc111000000"), AT)
    engine.register(make_request("abc222000000"), AT)
    store.close()

    code, out, err = cli("show", "abc")
    assert (code, out) == (1, "")
    assert err == "mozci-monitor: 2 requests match 'abc': give more of the id\n"
    code, out, err = cli("show", "zzz")
    assert (code, out) == (1, "")
    assert err == "mozci-monitor: no campaign or request matches 'zzz'\n"
    code, out, _ = cli("show", "abc2")
    assert code == 0 and out.startswith("request abc222000000:")


def test_a_store_that_is_not_a_database_is_reported_not_a_traceback(
    cli: Cli, store_path: Path
) -> None:
    store_path.write_bytes(b"definitely not sqlite\n" * 100)
    code, out, err = cli("list")
    assert code == 2
    assert out == ""
    assert str(store_path) in err


# -- replay ---------------------------------------------------------------------------------------


def test_replay_of_the_real_reference_messages(
    cli: Cli, tmp_path: Path, reference_dir: Path, store_path: Path
) -> None:
    request_id = cli.watch("--task-id", REF_TASK, group=REF_GROUP)
    lines = _reference_lines(reference_dir)
    assert len(lines) == 91
    in_group = sum(
        json.loads(line)["payload"]["status"]["taskGroupId"] == REF_GROUP for line in lines
    )

    code, out, _ = cli("replay", str(_write_lines(tmp_path, lines)))
    assert code == 0
    assert out.splitlines()[0] == (
        f"parsed 91, applied {in_group}, ignored {91 - in_group} (duplicate 0, stale 0,"
        f" unwatched {91 - in_group}), rejected 0"
    )
    assert f"  request {request_id}: pending" in out.splitlines()

    store = _open(store_path)
    try:
        assert store.count_rejections() == 0
        assert len(store.tasks_in_group(REF_GROUP)) == in_group
        request = store.get_request(request_id)
        assert request is not None and request.task_ids == (REF_TASK,)
    finally:
        store.close()

    # Replaying the same file again changes nothing: every message is a duplicate.
    before = _dump(store_path)
    code, out, _ = cli("replay", str(tmp_path / "messages.jsonl"))
    assert code == 0
    assert out.startswith(f"parsed 91, applied 0, ignored 91 (duplicate {in_group}, stale 0,")
    assert _dump(store_path) == before


def test_replay_of_labelled_reference_messages_matches_by_label(
    cli: Cli, tmp_path: Path, reference_dir: Path
) -> None:
    label = "test-linux64-qr/debug-mochitest-a11y-1proc"  # the tags.label of REF_TASK
    request_id = cli.watch(group=REF_GROUP, label=label)
    lines = _reference_lines(reference_dir, with_labels=True)
    code, out, _ = cli("replay", str(_write_lines(tmp_path, lines)))
    assert code == 0
    assert "rejected 0" in out
    code, out, _ = cli("show", request_id, "--json")
    document = json.loads(out)
    assert document["task_ids"] == [REF_TASK]
    assert document["state"] == "pending"


def test_replay_reports_bad_lines_with_their_number(
    cli: Cli, tmp_path: Path, store_path: Path
) -> None:
    cli.watch()
    good = FakeTask(slug(1)).pending()
    bad_status = json.loads(FakeTask(slug(2)).pending().jsonl())
    bad_status["payload"]["status"]["taskId"] = "not-a-slug"
    lines = [
        good.jsonl(),  # 1
        "{not json",  # 2
        "",  # 3: blank lines are skipped
        "[1, 2]",  # 4
        json.dumps(bad_status),  # 5
        json.dumps({"exchange": good.exchange, "payload": good.payload}),  # 6
        json.dumps({"exchange": good.exchange, "routing_key": good.routing_key, "payload": 3}),
    ]
    code, out, _ = cli("replay", str(_write_lines(tmp_path, lines)))
    assert code == 1
    summary, *details = out.splitlines()
    assert summary.startswith("parsed 1, applied 1,")
    assert summary.endswith("rejected 5")
    rejected = [line for line in details if line.startswith("  rejected: ")]
    assert [line.split(":")[1].strip() for line in rejected] == [
        "line 2",
        "line 4",
        "line 5",
        "line 6",
        "line 7",
    ]
    assert rejected[0].startswith("  rejected: line 2: not JSON")
    assert "line 4: line is not a JSON object" in rejected[1]
    assert "line 5: status.taskId is not a slugid" in rejected[2]
    assert "line 6: exchange and routing_key must be strings" in rejected[3]
    assert "line 7: payload must be a JSON object" in rejected[4]

    store = _open(store_path)
    try:
        assert store.count_rejections() == 5
        assert store.get_task(slug(1)) is not None
    finally:
        store.close()


def test_replay_dry_run_changes_nothing(cli: Cli, tmp_path: Path, store_path: Path) -> None:
    request_id = cli.watch()
    lines = [m.jsonl() for m in FakeTask(slug(1)).lifecycle()] + ["oops"]
    path = _write_lines(tmp_path, lines)
    before = _dump(store_path)

    code, out, _ = cli("replay", "--dry-run", str(path))
    assert code == 1  # the bad line still counts
    assert out.splitlines()[0] == (
        "parsed 3, would apply 3, ignored 0 (duplicate 0, stale 0, unwatched 0), rejected 1"
    )
    assert f"  request {request_id}: completed" in out.splitlines()
    assert _dump(store_path) == before

    code, out, _ = cli("replay", str(path))
    assert out.splitlines()[0].startswith("parsed 3, applied 3,")
    assert _dump(store_path) != before


def test_replay_dry_run_reports_what_a_real_run_does_beyond_one_chunk(
    cli: Cli, tmp_path: Path
) -> None:
    cli.watch()
    task = FakeTask(slug(1))
    first = task.pending().jsonl()
    noise = FakeTask(slug(2), group=OTHER_GROUP).pending().jsonl()
    path = _write_lines(tmp_path, [first, *[noise] * 499, first])

    _, dry, _ = cli("replay", "--dry-run", str(path))
    _, real, _ = cli("replay", str(path))
    assert dry.splitlines()[0].replace("would apply", "applied") == real.splitlines()[0]


def test_replay_of_a_missing_file_is_an_error_message(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("replay", str(tmp_path / "absent.jsonl"))
    assert code != 0
    assert "absent.jsonl" in err


# -- check-config ---------------------------------------------------------------------------------


def test_check_config_on_a_good_file(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(
        '[store]\npath = "/var/lib/mozci-monitor/state.sqlite3"\n[log]\nlevel = "warning"\n'
    )
    code, out, _ = cli("--config", str(config), "check-config", store=False)
    assert code == 0
    assert out.splitlines() == [
        "config ok: pulse amqp://guest:***@127.0.0.1:5672// queue queue/mozci-monitor/requests",
        "store: /var/lib/mozci-monitor/state.sqlite3",
        "budgets in tasks: 20 per request, no limit per campaign, 200 per repository per day",
    ]


def test_check_config_never_prints_the_password(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULSE_PASSWORD", "s3cret-pulse-pw")
    config = tmp_path / "settings.toml"
    config.write_text(
        '[pulse]\nurl = "amqps://pulse.mozilla.org:5671/"\nuser = "alice"\n'
        'queue = "queue/alice/monitor"\n'
    )
    monkeypatch.setenv("MOZCI_MONITOR_CONFIG", str(config))  # found through the environment
    code, out, err = cli("check-config", store=False)
    assert code == 0
    assert (
        "config ok: pulse amqps://alice:***@pulse.mozilla.org:5671/ queue queue/alice/monitor"
        in out
    )
    assert "s3cret-pulse-pw" not in out + err


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[pulse]\nprefetch = 'many'\n", "pulse.prefetch"),
        ("[log]\nformat = 'xml'\n", "log.format"),
        ("[daemon]\nbatchmax = 3\n", "daemon.batchmax"),
        ("[pulse]\nqueue = 'monitor'\n", "pulse.queue"),
    ],
)
def test_check_config_on_a_bad_file_exits_2_naming_the_key(
    cli: Cli, tmp_path: Path, toml: str, key: str
) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(toml)
    code, out, err = cli("--config", str(config), "check-config", store=False)
    assert code == 2
    assert out == ""
    assert f"config error: {key}:" in err


def test_check_config_without_the_pulse_password_exits_2(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text('[pulse]\nuser = "alice"\nqueue = "queue/alice/monitor"\n')
    code, _, err = cli("--config", str(config), "check-config", store=False)
    assert code == 2
    assert "pulse.user is 'alice' but no password" in err


def test_no_command_prints_help_and_exits_2(cli: Cli) -> None:
    code, out, _ = cli(store=False)
    assert code == 2
    assert "usage: mozci-monitor" in out


def test_show_of_a_campaign_prefix_lists_its_requests_and_actions(cli: Cli, tmp_path: Path) -> None:
    request_id = cli.watch("--times", "2")
    campaign_id = request_id.removesuffix("-r1")
    code, out, _ = cli("show", campaign_id[:6])
    assert code == 0
    assert out.splitlines()[0] == f"campaign {campaign_id} (watch): running"
    assert re.search(rf"^  {re.escape(request_id)}\s+scheduled\s+{re.escape(LABEL)}$", out, re.M)
    code, out, _ = cli("show", campaign_id, "--json")
    document = json.loads(out)
    assert (document["id"], document["kind"], document["state"]) == (
        campaign_id,
        "watch",
        "running",
    )
    assert [r["id"] for r in document["requests"]] == [request_id]
    assert document["action_log"] == []


def test_campaigns_lists_watch_and_downstream(cli: Cli) -> None:
    cli.watch()
    code, out, _ = cli(
        "downstream",
        "--repo",
        "autoland",
        "--revision",
        REVISION,
        "--task-group",
        GROUP,
        "--build",
        "build-linux64/opt",
    )
    assert code == 0
    downstream_id = out.strip()
    code, out, _ = cli("campaigns", "--json")
    assert code == 0
    kinds = sorted(c["kind"] for c in json.loads(out))
    assert kinds == ["downstream", "watch"]
    code, out, _ = cli("show", downstream_id, "--json")
    document = json.loads(out)
    assert [r["label"] for r in document["requests"]] == ["build-linux64/opt"]


def test_watch_refuses_a_task_group_that_is_not_a_task_id(cli: Cli) -> None:
    code, _, err = cli(*watch_argv("nope", LABEL))
    assert code == 2
    assert "--task-group: must be a Taskcluster slug id" in err


def test_check_config_says_what_capacity_limits(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text('[capacity]\ndaily_quota = { "gecko-t/t-linux-xlarge" = 500 }\n')
    code, out, _ = cli("--config", str(config), "check-config", store=False)
    assert code == 0
    assert out.splitlines()[-1] == (
        "capacity: gecko-t/t-linux-xlarge 500/day; deferred at most 21600 s"
    )
