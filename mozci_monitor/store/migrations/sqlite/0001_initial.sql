-- Requests, tasks, the append-only timeline, rejected messages and the outbox.
CREATE TABLE requests (
    request_id    TEXT PRIMARY KEY,
    campaign_id   TEXT,
    repo          TEXT NOT NULL,
    revision      TEXT NOT NULL,
    task_group_id TEXT NOT NULL,
    label         TEXT NOT NULL,
    wanted        INTEGER NOT NULL,
    state         TEXT NOT NULL,
    failure       TEXT,
    reason        TEXT,
    task_ids      TEXT NOT NULL DEFAULT '[]',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    is_open       INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX requests_open_group_label ON requests (task_group_id, label) WHERE is_open;
CREATE TABLE request_tasks (
    task_id    TEXT NOT NULL,
    request_id TEXT NOT NULL REFERENCES requests (request_id),
    PRIMARY KEY (task_id, request_id)
) WITHOUT ROWID;
CREATE TABLE tasks (
    task_id       TEXT PRIMARY KEY,
    task_group_id TEXT NOT NULL,
    label         TEXT,
    phase         TEXT NOT NULL,
    reason        TEXT,
    runs          INTEGER NOT NULL,
    rank          INTEGER NOT NULL,
    status        TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX tasks_group_label ON tasks (task_group_id, label);
CREATE TABLE timeline (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    at         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    task_id    TEXT,
    detail     TEXT NOT NULL
);
CREATE INDEX timeline_request ON timeline (request_id, seq);
CREATE TABLE rejected (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    exchange    TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    reason      TEXT NOT NULL,
    body        BLOB NOT NULL
);
CREATE TABLE outbox (
    key        TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    request_id TEXT,
    payload    TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'pending',
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    done_at    TEXT
);
CREATE INDEX outbox_pending ON outbox (created_at) WHERE state = 'pending';
