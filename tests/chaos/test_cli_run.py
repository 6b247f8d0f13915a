"""`mozci-monitor --config FILE run` starts the daemon, and SIGTERM stops it with exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest
from broker import RabbitMQ

from chaos.rig import Knobs, rig

pytestmark = [pytest.mark.rabbitmq, pytest.mark.chaos]


async def test_the_cli_run_command_starts_and_stops_on_sigterm(
    rabbitmq: RabbitMQ, queue: str, tmp_path: Path
) -> None:
    async with rig(rabbitmq.url, queue, tmp_path, knobs=Knobs()) as r:
        run = await r.start()
        code, _ = await r.terminate()
        assert code == 0, run.tail()
