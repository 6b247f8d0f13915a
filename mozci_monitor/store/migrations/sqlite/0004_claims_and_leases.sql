-- Claims and leases: several daemons on one store perform each action once and
-- reconcile each task group once per period.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN lease_until REAL;
ALTER TABLE outbox ADD COLUMN lease_seconds REAL;
CREATE TABLE leases (
    name  TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
);
