"""One daemon of a scale-out test, as its own process (so the test can kill -9 it).

    python tests/scaleout/daemon_process.py CONFIG.json

CONFIG: {"owner", "dsn", "broker_url", "queue", "root_url", "treeherder_url", "hg_url",
"email", "lease_seconds", "status_file"}. The daemon is the production one, built by
tests/support (Daemon + PulseConsumer + build_services), on a PostgresStore whose outbox
it performs through claims. It rewrites `status_file` (JSON: started, bound groups,
counters, performed actions) every 0.1 s, for the test to follow it without parsing logs.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.*

from support.daemon import assemble_daemon, scene_settings

from mozci_monitor.config import Settings, SourcesSettings, StoreSettings
from mozci_monitor.daemon import Daemon
from mozci_monitor.wiring import build_services


def settings_from(config: dict[str, Any]) -> Settings:
    return scene_settings(
        broker_url=config["broker_url"],
        queue=config["queue"],
        # Several daemons share the queue: each holds few unacked messages at a time.
        prefetch=50,
        sources=SourcesSettings(
            taskcluster_root_url=config["root_url"],
            treeherder_url=config["treeherder_url"],
            hg_url=config["hg_url"],
            taskcluster_rate=500,
        ),
        store=StoreSettings(
            backend="postgres",
            dsn=config["dsn"],
            instance=config["owner"],
            lease_seconds=float(config["lease_seconds"]),
        ),
        email=config["email"],
    )


async def main(config: dict[str, Any]) -> int:
    settings = settings_from(config)
    daemon = assemble_daemon(settings, services=build_services(settings))
    status = Path(config["status_file"])
    runner = asyncio.create_task(daemon.run(install_signal_handlers=True))
    while not runner.done():
        _write_status(status, daemon)
        await asyncio.wait([runner], timeout=0.1)
    _write_status(status, daemon)
    return runner.result()


def _write_status(path: Path, daemon: Daemon) -> None:
    document = {
        "pid": os.getpid(),
        "started": daemon.health.started,
        "bound": len(daemon._bound),
        "counters": daemon.health.counters,
        "performed": daemon.actuator.performed if daemon.actuator else {},
    }
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(document))
    partial.replace(path)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(json.loads(Path(sys.argv[1]).read_text()))))
