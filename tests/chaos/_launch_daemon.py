"""`mozci-monitor run`, with the daemon built inside the event loop.

A stand-in while `mozci-monitor run` cannot start (build_daemon creates its aiohttp session
before asyncio.run: "no running event loop"; test_cli_run.py shows it). Same settings,
same logging, same daemon, same exit codes.
"""

from __future__ import annotations

import asyncio
import sys

from mozci_monitor.config import load_settings, secrets_of
from mozci_monitor.daemon import build_daemon
from mozci_monitor.logs import configure_logging


async def _main(path: str) -> int:
    settings = load_settings(path)
    configure_logging(
        format=settings.log.format, level=settings.log.level, secrets=secrets_of(settings)
    )
    return await build_daemon(settings).run()


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(sys.argv[1])))
