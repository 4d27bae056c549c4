-- scimgate core schema (PostgreSQL). The SQLite twin lives in
-- migrations/sqlite/0001_core.sql; both must stay equivalent: the same
-- tables, columns, constraint names and indexes, because one set of queries
-- runs on both.
--
-- Conventions: ids are UUID strings; times are UTC RFC 3339 strings with
-- millisecond precision ("2026-11-23T10:00:00.000Z"), which sort as text in
-- time order; booleans are integers 0/1; JSON documents are text.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);

-- Bearer credentials the SCIM API accepts. Only the SHA-256 of the secret is
-- kept; `hint` is the visible prefix plus the last characters, for people.
CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL,
    hint          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT,
    revoked_at    TEXT,
    last_used_at  TEXT,
    CONSTRAINT api_tokens_hash_key UNIQUE (token_hash)
);
CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id, created_at);

-- SCIM users: the canonical document plus the columns filters use.
-- userName is unique per tenant case-insensitively through user_name_lower.
CREATE TABLE scim_users (
    tenant_id        TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id               TEXT NOT NULL,
    user_name        TEXT NOT NULL,
    user_name_lower  TEXT NOT NULL,
    external_id      TEXT,
    display_name     TEXT,
    active           BIGINT NOT NULL,
    doc              TEXT NOT NULL,
    version          BIGINT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT scim_users_user_name_key UNIQUE (tenant_id, user_name_lower)
);
CREATE INDEX scim_users_external_id ON scim_users (tenant_id, external_id);
CREATE INDEX scim_users_created ON scim_users (tenant_id, created_at, id);

-- Every e-mail of every user, lower-cased, so that Entra's
-- `emails[type eq "work"].value eq "…"` is an index lookup.
CREATE TABLE scim_user_emails (
    tenant_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    value_lower  TEXT NOT NULL,
    type         TEXT,
    FOREIGN KEY (tenant_id, user_id) REFERENCES scim_users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX scim_user_emails_value ON scim_user_emails (tenant_id, value_lower);
CREATE INDEX scim_user_emails_user ON scim_user_emails (tenant_id, user_id);

CREATE TABLE scim_groups (
    tenant_id           TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                  TEXT NOT NULL,
    display_name        TEXT NOT NULL,
    display_name_lower  TEXT NOT NULL,
    external_id         TEXT,
    doc                 TEXT NOT NULL,
    version             BIGINT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT scim_groups_display_name_key UNIQUE (tenant_id, display_name_lower)
);
CREATE INDEX scim_groups_external_id ON scim_groups (tenant_id, external_id);
CREATE INDEX scim_groups_created ON scim_groups (tenant_id, created_at, id);

-- Group membership in its own table: adding or removing one member touches
-- one row whatever the group's size. A member is a user or a group of the
-- same tenant; rows of a deleted user or group are removed by the store in
-- the same transaction (a member can be of either table, so no foreign key).
CREATE TABLE scim_group_members (
    tenant_id    TEXT NOT NULL,
    group_id     TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    member_type  TEXT NOT NULL,
    added_at     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, group_id, member_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES scim_groups (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX scim_group_members_member ON scim_group_members (tenant_id, member_id);

-- The tenant's activity log: every SCIM write and security event, written in
-- the same transaction as the change it records.
CREATE TABLE activity (
    id                  BIGSERIAL PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    at                  TEXT NOT NULL,
    actor_kind          TEXT NOT NULL,
    actor_id            TEXT,
    actor_label         TEXT,
    operation           TEXT NOT NULL,
    resource_type       TEXT,
    resource_id         TEXT,
    resource_label      TEXT,
    status              BIGINT NOT NULL,
    outcome             TEXT NOT NULL,
    detail              TEXT,
    quirks              TEXT,
    ignored_attributes  TEXT,
    request_id          TEXT,
    latency_ms          BIGINT
);
CREATE INDEX activity_tenant ON activity (tenant_id, id);
CREATE INDEX activity_resource ON activity (tenant_id, resource_id, id);
