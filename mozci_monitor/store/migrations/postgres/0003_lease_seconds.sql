-- A claim's lease length, so that starting an attempt renews it for as long again.
ALTER TABLE outbox ADD COLUMN lease_seconds DOUBLE PRECISION;
