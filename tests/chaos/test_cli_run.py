"""`mozci-monitor --config FILE run` starts the daemon, and SIGTERM stops it with exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest
from broker import RabbitMQ, unique_queue_name

from chaos.rig import Knobs, rig

pytestmark = [pytest.mark.rabbitmq, pytest.mark.chaos]


async def test_the_cli_run_command_starts_and_stops_on_sigterm(
    rabbitmq: RabbitMQ, tmp_path: Path
) -> None:
    queue = unique_queue_name("chaos-cli")
    async with rig(rabbitmq.url, queue, tmp_path, knobs=Knobs()) as r:
        r.entry = "cli"
        run = await r.start()
        code, _ = await r.terminate()
        assert code == 0, run.tail()
    rabbitmq.delete_queue(queue)
