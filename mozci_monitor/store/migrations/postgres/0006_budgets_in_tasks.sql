-- Budgets count tasks, not actions (core.actions.tasks_of): each outbox entry records the
-- tasks it schedules (the daily budget sums them), each campaign those of its actions.
ALTER TABLE outbox ADD COLUMN tasks INTEGER NOT NULL DEFAULT 1;
-- Entries queued before: computed from their payload by the same rule as tasks_of.
UPDATE outbox SET tasks = CASE kind
    WHEN 'rerun' THEN 1
    WHEN 'retrigger' THEN coalesce((payload ->> 'times')::integer, 1)
    WHEN 'add-new-jobs' THEN
        jsonb_array_length(coalesce(payload -> 'labels', '[]'::jsonb))
        * coalesce((payload ->> 'times')::integer, 1)
    WHEN 'backfill' THEN
        coalesce((payload -> 'details' ->> 'depth')::integer, 1)
        * coalesce((payload ->> 'times')::integer, 1)
    WHEN 'confirm-failures' THEN
        coalesce((payload -> 'details' ->> 'expect')::integer, 1)
        * coalesce((payload ->> 'times')::integer, 1)
    ELSE 0
END;
ALTER TABLE campaigns ADD COLUMN tasks INTEGER NOT NULL DEFAULT 0;
UPDATE campaigns SET tasks = (
    SELECT coalesce(sum(outbox.tasks), 0) FROM outbox
    WHERE outbox.campaign_id = campaigns.campaign_id
);
