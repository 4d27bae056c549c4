-- `scim_user_emails_search` (tenant_id, value_lower, user_id) serves every
-- lookup `scim_user_emails_value` (tenant_id, value_lower) served; keeping
-- both cost every e-mail written one more index entry.
DROP INDEX IF EXISTS scim_user_emails_value;
