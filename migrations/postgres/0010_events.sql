-- (PostgreSQL; twin of migrations/sqlite/0010_events.sql)
-- The event log the product reads (`/api/v1/events`, webhooks): one row per
-- change to a tenant's directory or connections, written in the same
-- transaction as the change (a transactional outbox).
--
-- `seq` is allocated when the row is inserted, and transactions commit in
-- any order: a feed ordered by `seq` would skip an event whose transaction
-- commits after a later one was read. So the feed is ordered by `position`,
-- which the publisher (`events::publish`) assigns to committed events only,
-- in the order they became visible, one publisher at a time (it locks the
-- `event_feed` row). Within one pass positions follow `seq`, which keeps
-- two changes to one resource in order: the second waited for the first's
-- row lock, so it inserted its event later.
CREATE TABLE events (
    seq          BIGSERIAL PRIMARY KEY,
    position     BIGINT,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    type         TEXT NOT NULL,
    occurred_at  TEXT NOT NULL,
    -- The envelope's `data` and `previous_attributes`, as JSON text.
    data         TEXT NOT NULL,
    previous     TEXT
);
CREATE UNIQUE INDEX events_position ON events (position);
CREATE INDEX events_tenant ON events (tenant_id, position);
CREATE INDEX events_unpublished ON events (seq) WHERE position IS NULL;

-- One row: the last position handed out, and how far the log has been
-- pruned (an `after` below it is 410).
CREATE TABLE event_feed (
    id              INTEGER PRIMARY KEY,
    published       BIGINT NOT NULL,
    pruned_through  BIGINT NOT NULL
);
INSERT INTO event_feed (id, published, pruned_through) VALUES (1, 0, 0);

-- Keys of the vendor's product for `/api/v1`: only the SHA-256 of the key
-- is kept. tenant_id NULL: the key sees every tenant.
CREATE TABLE app_keys (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    key_hash      TEXT NOT NULL,
    hint          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT,
    last_used_at  TEXT,
    CONSTRAINT app_keys_hash_key UNIQUE (key_hash)
);
