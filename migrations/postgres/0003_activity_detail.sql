-- Activity detail for the console (PostgreSQL; twin of migrations/sqlite/0003_activity_detail.sql):
-- the HTTP method and path of the request, and for changes the field-level
-- before/after as a JSON array of {"path", "before", "after"}.
ALTER TABLE activity ADD COLUMN method TEXT;
ALTER TABLE activity ADD COLUMN path TEXT;
ALTER TABLE activity ADD COLUMN changes TEXT;
-- The overview counts requests and failures per hour of the last day.
CREATE INDEX activity_tenant_at ON activity (tenant_id, at);
