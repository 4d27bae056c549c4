-- (SQLite; twin of migrations/postgres/0010_events.sql)
-- The event log the product reads (`/api/v1/events`, webhooks): one row per
-- change to a tenant's directory or connections, written in the same
-- transaction as the change (a transactional outbox).
--
-- The feed's order is `seq`. SQLite lets one write transaction run at a
-- time, across connections and processes, and AUTOINCREMENT hands out
-- `seq` under that lock, so `seq` order is commit order and a reader can
-- never see a higher `seq` before a lower one has committed. (PostgreSQL
-- has no such lock: there `position` is assigned after commit, see its twin.)
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    type         TEXT NOT NULL,
    occurred_at  TEXT NOT NULL,
    -- The envelope's `data` and `previous_attributes`, as JSON text.
    data         TEXT NOT NULL,
    previous     TEXT
);
CREATE INDEX events_tenant ON events (tenant_id, seq);

-- One row: how far the log has been pruned (an `after` below it is 410).
CREATE TABLE event_feed (
    id              INTEGER PRIMARY KEY,
    published       INTEGER NOT NULL,
    pruned_through  INTEGER NOT NULL
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
