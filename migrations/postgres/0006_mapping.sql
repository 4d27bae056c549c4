-- Mapping rules (PostgreSQL; twin of migrations/sqlite/0006_mapping.sql): how a tenant's
-- SCIM attributes turn into the product's role and employee groups.
--
-- One row per tenant that saved rules; a tenant without a row uses the
-- defaults (role from `title`, groups from `userType` split at `-`) with
-- empty tables. The value tables are JSON arrays of [value, result] pairs,
-- in the order the admin wrote them.
CREATE TABLE mapping_rules (
    tenant_id         TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    role_attribute    TEXT NOT NULL,
    groups_attribute  TEXT NOT NULL,
    delimiter         TEXT NOT NULL,
    role_values       TEXT NOT NULL,
    group_values      TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    updated_by        TEXT
);

-- What the rules derived for each user, kept beside the document so that
-- every read serves it without recomputing: the role (NULL when no rule
-- matched) and the employee groups (a JSON array of names, NULL when none).
-- Written in the transaction of every user write, and for every user of the
-- tenant in the transaction that saves new rules.
ALTER TABLE scim_users ADD COLUMN derived_role TEXT;
ALTER TABLE scim_users ADD COLUMN derived_groups TEXT;
