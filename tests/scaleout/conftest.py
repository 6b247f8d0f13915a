"""PostgreSQL fixtures from tests/pg.py (the broker's come from tests/conftest.py)."""

from pg import pg_dsn, postgres  # noqa: F401  (fixtures)
