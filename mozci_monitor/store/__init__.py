"""The store edge: one SQL store (`sql.py`) over a dialect layer (`dialect.py`), with a
SQLite (`sqlite.py`) and a PostgreSQL (`postgres.py`) connector. Its port is
`mozci_monitor.ports.store`."""
