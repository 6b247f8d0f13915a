-- What a finished run's test results say (core.errorsummary.summary_to_json), not its logs.
CREATE TABLE task_results (
    task_id     TEXT NOT NULL,
    run_id      INTEGER NOT NULL,
    source      TEXT NOT NULL,
    results     TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (task_id, run_id)
);
