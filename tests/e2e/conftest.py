"""Every end-to-end test runs over the in-process broker and over a real RabbitMQ."""

from __future__ import annotations

from support.brokers import both_brokers

broker = both_brokers("e2e")
