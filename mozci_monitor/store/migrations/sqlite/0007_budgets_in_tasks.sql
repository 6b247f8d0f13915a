-- Budgets count tasks, not actions (core.actions.tasks_of): each outbox entry records the
-- tasks it schedules (the daily budget sums them), each campaign those of its actions.
ALTER TABLE outbox ADD COLUMN tasks INTEGER NOT NULL DEFAULT 1;
-- Entries queued before: computed from their payload by the same rule as tasks_of.
UPDATE outbox SET tasks = CASE kind
    WHEN 'rerun' THEN 1
    WHEN 'retrigger' THEN coalesce(json_extract(payload, '$.times'), 1)
    WHEN 'add-new-jobs' THEN
        json_array_length(payload, '$.labels') * coalesce(json_extract(payload, '$.times'), 1)
    WHEN 'backfill' THEN
        coalesce(json_extract(payload, '$.details.depth'), 1)
        * coalesce(json_extract(payload, '$.times'), 1)
    WHEN 'confirm-failures' THEN
        coalesce(json_extract(payload, '$.details.expect'), 1)
        * coalesce(json_extract(payload, '$.times'), 1)
    ELSE 0
END;
ALTER TABLE campaigns ADD COLUMN tasks INTEGER NOT NULL DEFAULT 0;
UPDATE campaigns SET tasks = (
    SELECT coalesce(sum(outbox.tasks), 0) FROM outbox
    WHERE outbox.campaign_id = campaigns.campaign_id
);
