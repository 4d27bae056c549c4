-- (SQLite; twin of migrations/postgres/0009_activity_resource_partial.sql)
-- Only entries about one resource are looked up by resource: listings and
-- searches (most of the read log) need no entry in this index.
DROP INDEX activity_resource;
CREATE INDEX activity_resource ON activity (tenant_id, resource_id, id) WHERE resource_id IS NOT NULL;
