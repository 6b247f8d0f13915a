"""`mozci-monitor` as a sheriff runs it: a separate process over a settings file that
points at a scene (its broker, queue, store and simulated sources).

The settings turn the API off: the command then records campaigns in the scene's store,
never asking whatever daemon another test session runs on the default port (8787).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from .scene import Scene

CLI_WITHIN = 55.0  # seconds the command may take, waiting included
_MAIN = "import sys; from mozci_monitor.cli import main; sys.exit(main())"


def scene_config(sc: Scene, tmp_path: Path) -> Path:
    """A settings file for `sc`, written in `tmp_path`."""
    path = tmp_path / "mozci-monitor.toml"
    path.write_text(
        "\n".join(
            [
                "[pulse]",
                f"url = {json.dumps(sc.broker_url)}",
                f"queue = {json.dumps(sc.queue)}",
                "[store]",
                f"path = {json.dumps(str(sc.store_path))}",
                "[sources]",
                f"taskcluster_root_url = {json.dumps(sc.sim.root_url)}",
                f"treeherder_url = {json.dumps(sc.sim.treeherder_url)}",
                f"hg_url = {json.dumps(sc.sim.hg_url)}",
                "[actions]",
                "max_per_request = 3",
                "[api]",
                "enabled = false",
                "[log]",
                'level = "warning"',
                "",
            ]
        )
    )
    return path


async def run_cli(config: Path, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `mozci-monitor --config CONFIG ARGS...`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _MAIN,
        "--config",
        str(config),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "HOME": str(config.parent)},
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), CLI_WITHIN)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
