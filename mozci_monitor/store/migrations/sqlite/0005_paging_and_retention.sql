-- Keyset paging over requests and campaigns (oldest first), and the retention pass's
-- look-ups by age.
CREATE INDEX requests_created ON requests (created_at, request_id);
CREATE INDEX requests_open_created ON requests (created_at, request_id) WHERE is_open;
CREATE INDEX campaigns_created ON campaigns (created_at, campaign_id);
CREATE INDEX campaigns_open_group ON campaigns (task_group_id) WHERE is_open;
CREATE INDEX tasks_updated ON tasks (updated_at);
CREATE INDEX rejected_at ON rejected (at);
