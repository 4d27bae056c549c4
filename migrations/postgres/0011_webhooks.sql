-- (PostgreSQL; twin of migrations/sqlite/0011_webhooks.sql)
-- Webhooks: the vendor's endpoints that receive the event log, signed
-- (Standard Webhooks), at least once and in order per endpoint and tenant.
--
-- The events themselves are the durable queue (written with each change);
-- a stream per endpoint and tenant records how far delivery has come, and
-- which instance holds it (lease_owner until lease_until) so that each
-- delivery is attempted by one instance at a time and a crashed instance's
-- work is taken over when its lease runs out.

-- The secret signs every delivery, so unlike scimgate's other secrets it
-- cannot be hashed: it is stored as given (protect backups accordingly).
-- During a rotation previous_secret signs too, until previous_secret_until.
CREATE TABLE webhooks (
    id                     TEXT PRIMARY KEY,
    tenant_id              TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    url                    TEXT NOT NULL,
    -- Comma-separated event types; NULL: every type.
    event_types            TEXT,
    secret                 TEXT NOT NULL,
    previous_secret        TEXT,
    previous_secret_until  TEXT,
    created_at             TEXT NOT NULL,
    -- The feed position when the endpoint was created: older events are
    -- not sent to it.
    start_after            BIGINT NOT NULL,
    -- Since when every attempt has failed (NULL after any success).
    failing_since          TEXT,
    disabled_at            TEXT,
    disabled_reason        TEXT
);

CREATE TABLE webhook_streams (
    webhook_id         TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    tenant_id          TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- The feed position of the last event acknowledged (2xx) or given up.
    delivered_through  BIGINT NOT NULL,
    -- Failed attempts of the next event so far.
    attempts           INTEGER NOT NULL,
    next_attempt_at    TEXT NOT NULL,
    lease_owner        TEXT,
    lease_until        TEXT,
    PRIMARY KEY (webhook_id, tenant_id)
);

-- Every attempt, for the console and `scimgate webhook deliveries`.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    tenant_id       TEXT,
    event_position  BIGINT NOT NULL,
    event_type      TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    at              TEXT NOT NULL,
    -- delivered, failed, gave_up, test or redelivered
    outcome         TEXT NOT NULL,
    status          INTEGER,
    latency_ms      INTEGER,
    error           TEXT,
    response        TEXT
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, at);
CREATE INDEX webhook_deliveries_at ON webhook_deliveries (at);
