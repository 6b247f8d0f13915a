-- Everything the SQLite schema has after its migration 2, plus claims and leases.
-- Identifiers sort bytewise (COLLATE "C") like SQLite's, whatever the database locale.
CREATE TABLE requests (
    request_id    TEXT COLLATE "C" PRIMARY KEY,
    campaign_id   TEXT COLLATE "C",
    repo          TEXT NOT NULL,
    revision      TEXT NOT NULL,
    task_group_id TEXT COLLATE "C" NOT NULL,
    label         TEXT NOT NULL,
    wanted        INTEGER NOT NULL,
    state         TEXT NOT NULL,
    failure       TEXT,
    reason        TEXT,
    task_ids      JSONB NOT NULL DEFAULT '[]',
    policy        JSONB NOT NULL DEFAULT '{}',
    created_at    TEXT COLLATE "C" NOT NULL,
    updated_at    TEXT NOT NULL,
    is_open       BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE INDEX requests_open_group_label ON requests (task_group_id, label) WHERE is_open;
CREATE INDEX requests_campaign ON requests (campaign_id);
CREATE TABLE request_tasks (
    task_id    TEXT COLLATE "C" NOT NULL,
    request_id TEXT COLLATE "C" NOT NULL REFERENCES requests (request_id),
    PRIMARY KEY (task_id, request_id)
);
CREATE TABLE tasks (
    task_id       TEXT COLLATE "C" PRIMARY KEY,
    task_group_id TEXT COLLATE "C" NOT NULL,
    label         TEXT,
    phase         TEXT NOT NULL,
    reason        TEXT,
    runs          INTEGER NOT NULL,
    rank          INTEGER NOT NULL,
    status        JSONB NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX tasks_group_label ON tasks (task_group_id, label);
CREATE TABLE timeline (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id TEXT COLLATE "C" NOT NULL,
    at         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    task_id    TEXT,
    detail     JSONB NOT NULL
);
CREATE INDEX timeline_request ON timeline (request_id, seq);
CREATE TABLE rejected (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          TEXT NOT NULL,
    exchange    TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    reason      TEXT NOT NULL,
    body        BYTEA NOT NULL
);
CREATE TABLE campaigns (
    campaign_id   TEXT COLLATE "C" PRIMARY KEY,
    kind          TEXT NOT NULL,
    repo          TEXT NOT NULL,
    revision      TEXT NOT NULL,
    task_group_id TEXT COLLATE "C" NOT NULL,
    label         TEXT,
    params        JSONB NOT NULL,
    state         TEXT NOT NULL,
    outcome       TEXT,
    summary       JSONB NOT NULL,
    max_actions   INTEGER,
    actions       INTEGER NOT NULL DEFAULT 0,
    dry_run       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TEXT COLLATE "C" NOT NULL,
    updated_at    TEXT NOT NULL,
    is_open       BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE TABLE outbox (
    key         TEXT COLLATE "C" PRIMARY KEY,
    kind        TEXT NOT NULL,
    request_id  TEXT COLLATE "C",
    campaign_id TEXT COLLATE "C",
    repo        TEXT,
    day         TEXT,
    payload     JSONB NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending',
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  TEXT COLLATE "C" NOT NULL,
    started_at  TEXT,
    done_at     TEXT,
    result      TEXT,
    claimed_by  TEXT,
    lease_until TIMESTAMPTZ
);
CREATE INDEX outbox_pending ON outbox (created_at, key) WHERE state = 'pending';
CREATE INDEX outbox_repo_day ON outbox (repo, day);
CREATE INDEX outbox_request ON outbox (request_id);
CREATE INDEX outbox_campaign ON outbox (campaign_id);
CREATE TABLE leases (
    name   TEXT COLLATE "C" PRIMARY KEY,
    owner  TEXT NOT NULL,
    until  TIMESTAMPTZ NOT NULL
);
