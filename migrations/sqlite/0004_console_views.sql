-- Indexes for the console's lists (SQLite; twin of
-- migrations/postgres/0004_console_views.sql). Each list is read one page at
-- a time with keyset paging, `WHERE tenant_id = ? AND (key, id) > (?, ?)
-- ORDER BY key, id LIMIT n`, so every sort the console offers needs an index
-- on (tenant_id, key, id): a page is then an index range, whatever its
-- position in a directory of 100,000 users.
CREATE INDEX scim_users_user_name_order ON scim_users (tenant_id, user_name_lower, id);
CREATE INDEX scim_users_display_order ON scim_users (tenant_id, lower(COALESCE(display_name, '')), id);
CREATE INDEX scim_users_updated_order ON scim_users (tenant_id, updated_at, id);
-- Active/inactive counts on the overview.
CREATE INDEX scim_users_active ON scim_users (tenant_id, active);
CREATE INDEX scim_groups_display_order ON scim_groups (tenant_id, display_name_lower, id);
-- The creation-time order uses scim_users_created from 0001.
-- A group's members page by page, in the order they were added.
CREATE INDEX scim_group_members_added ON scim_group_members (tenant_id, group_id, added_at, member_id);
-- The users search matches e-mail addresses with LIKE: this index answers
-- that part of the search from the index alone, without reading each row.
CREATE INDEX scim_user_emails_search ON scim_user_emails (tenant_id, value_lower, user_id);
