""".ci/test (the README's second command) and .ci/run (CI) with a stand-in interpreter.

The stand-in records every call and exits as told, so the scripts' wiring is checked
without installing or running anything: the order of the steps, that every check runs,
and that any failure (or a pytest run that collected nothing) makes the exit non-zero.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FAKE_PYTHON = """#!/bin/sh
echo "$*" >> "$FAKE_LOG"
case "$2" in
    pytest) exit "${FAKE_PYTEST_EXIT:-0}" ;;
    ruff) [ "$3" = format ] && exit "${FAKE_FORMAT_EXIT:-0}"; exit "${FAKE_RUFF_EXIT:-0}" ;;
    mypy) exit "${FAKE_MYPY_EXIT:-0}" ;;
    pip) exit "${FAKE_PIP_EXIT:-0}" ;;
    *importlinter*) exit "${FAKE_IMPORTS_EXIT:-0}" ;;
esac
exit 0
"""
# Stands in for apt-get, should a service be missing on the machine running this test.
FAKE_APT = """#!/bin/sh
echo "apt-get $*" >> "$FAKE_LOG"
"""


@pytest.fixture
def fake(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("python", FAKE_PYTHON), ("apt-get", FAKE_APT)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHON": str(bin_dir / "python"),
        "FAKE_LOG": str(tmp_path / "calls.log"),
    }


def run_script(
    script: str, env: dict[str, str], *args: str, **exits: int
) -> tuple[int, list[str], str]:
    environment = {k: v for k, v in os.environ.items() if k != "CI"} | env
    environment |= {f"FAKE_{name.upper()}_EXIT": str(code) for name, code in exits.items()}
    result = subprocess.run(
        ["bash", script, *args],
        cwd=ROOT,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    log = Path(env["FAKE_LOG"])
    calls = log.read_text().splitlines() if log.exists() else []
    python_calls = [call for call in calls if not call.startswith("apt-get")]
    return result.returncode, python_calls, result.stdout + result.stderr


def test_the_test_script_installs_then_runs_the_whole_suite(fake: dict[str, str]) -> None:
    code, calls, output = run_script(".ci/test", fake)
    assert code == 0, output
    assert calls == [
        "-m pip install -q --disable-pip-version-check -e .[test]",
        "-m pytest -q",
    ]


def test_the_test_script_passes_arguments_to_pytest(fake: dict[str, str]) -> None:
    code, calls, output = run_script(".ci/test", fake, "tests/core", "-x")
    assert code == 0, output
    assert calls[-1] == "-m pytest -q tests/core -x"


@pytest.mark.parametrize(("pytest_exit", "message"), [(1, None), (5, "collected no tests")])
def test_the_test_script_fails_when_pytest_does(
    fake: dict[str, str], pytest_exit: int, message: str | None
) -> None:
    code, _, output = run_script(".ci/test", fake, pytest=pytest_exit)
    assert code == pytest_exit
    if message:
        assert message in output


def test_the_test_script_stops_when_the_install_fails(fake: dict[str, str]) -> None:
    code, calls, _ = run_script(".ci/test", fake, pip=1)
    assert code == 1
    assert [call for call in calls if "pytest" in call] == []


def test_ci_runs_the_test_script_then_lint_and_types(fake: dict[str, str]) -> None:
    code, calls, output = run_script(".ci/run", fake)
    assert code == 0, output
    assert calls == [
        "-m pip install -q --disable-pip-version-check -e .[test]",
        "-m pytest -q",
        "-m ruff check mozci_monitor tests",
        "-m ruff format --check mozci_monitor tests",
        "-m mypy --strict mozci_monitor",
        "-c import sys; from importlinter.cli import lint_imports_command as lint;"
        " sys.exit(lint())",
    ]
    assert "all checks passed" in output


@pytest.mark.parametrize(
    ("failing", "exit_code", "named"),
    [
        ("pytest", 1, "bash .ci/test (exit 1)"),
        ("pytest", 5, "bash .ci/test (exit 5)"),
        ("ruff", 1, "ruff check mozci_monitor tests (exit 1)"),
        ("format", 1, "ruff format --check mozci_monitor tests (exit 1)"),
        ("mypy", 1, "mypy --strict mozci_monitor (exit 1)"),
        ("imports", 1, "sys.exit(lint()) (exit 1)"),
    ],
)
def test_ci_fails_when_any_check_fails_and_still_runs_the_others(
    fake: dict[str, str], failing: str, exit_code: int, named: str
) -> None:
    code, calls, output = run_script(".ci/run", fake, **{failing: exit_code})
    assert code == 1
    assert len(calls) == 6  # every check ran
    assert "FAILED:" in output and named in output


def test_the_readme_runs_the_test_script_exactly() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", readme, re.S)
    assert block is not None
    commands = [line for line in block.group(1).splitlines() if not line.startswith("#")]
    assert commands == ["pip install . && mozci-monitor demo", "bash .ci/test"]
