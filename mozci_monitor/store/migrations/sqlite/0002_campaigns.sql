-- Campaigns, request policies, and per-repository per-day outbox counts.
ALTER TABLE requests ADD COLUMN policy TEXT NOT NULL DEFAULT '{}';
CREATE INDEX requests_campaign ON requests (campaign_id);
CREATE TABLE campaigns (
    campaign_id   TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    repo          TEXT NOT NULL,
    revision      TEXT NOT NULL,
    task_group_id TEXT NOT NULL,
    label         TEXT,
    params        TEXT NOT NULL,
    state         TEXT NOT NULL,
    outcome       TEXT,
    summary       TEXT NOT NULL,
    max_actions   INTEGER,
    actions       INTEGER NOT NULL DEFAULT 0,
    dry_run       INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    is_open       INTEGER NOT NULL DEFAULT 1
);
ALTER TABLE outbox ADD COLUMN campaign_id TEXT;
ALTER TABLE outbox ADD COLUMN repo TEXT;
ALTER TABLE outbox ADD COLUMN day TEXT;
ALTER TABLE outbox ADD COLUMN started_at TEXT;
ALTER TABLE outbox ADD COLUMN result TEXT;
CREATE INDEX outbox_repo_day ON outbox (repo, day);
