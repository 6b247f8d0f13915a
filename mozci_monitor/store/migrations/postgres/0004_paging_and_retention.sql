-- Keyset paging over requests and campaigns (oldest first), and the retention pass's
-- look-ups by age.
CREATE INDEX requests_created ON requests (created_at, request_id);
CREATE INDEX requests_open_created ON requests (created_at, request_id) WHERE is_open;
CREATE INDEX campaigns_created ON campaigns (created_at, campaign_id);
CREATE INDEX campaigns_open_group ON campaigns (task_group_id) WHERE is_open;
-- Timestamps compared with a cut-off sort bytewise, as on SQLite, whatever the locale.
ALTER TABLE tasks ALTER COLUMN updated_at TYPE TEXT COLLATE "C";
CREATE INDEX tasks_updated ON tasks (updated_at);
ALTER TABLE rejected ALTER COLUMN at TYPE TEXT COLLATE "C";
CREATE INDEX rejected_at ON rejected (at);
