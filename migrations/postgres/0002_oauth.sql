-- Accounts, OAuth 2.0 clients and grants, and browser sessions (PostgreSQL).
-- Twin of migrations/sqlite/0002_oauth.sql.

-- Console accounts. tenant_id NULL marks an operator (the SaaS vendor), who
-- manages tenants but belongs to none. E-mail is unique across scimgate so
-- that sign-in needs nothing but e-mail and password.
CREATE TABLE admins (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    email                TEXT NOT NULL,
    email_lower          TEXT NOT NULL,
    password_hash        TEXT,
    created_at           TEXT NOT NULL,
    password_changed_at  TEXT NOT NULL,
    CONSTRAINT admins_email_key UNIQUE (email_lower)
);
CREATE INDEX admins_tenant ON admins (tenant_id);

-- OAuth clients belong to a tenant: Microsoft requires each customer to have
-- its own client id and secret. redirect_uris is a JSON array of exact URIs.
CREATE TABLE oauth_clients (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    redirect_uris  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    revoked_at     TEXT
);
CREATE INDEX oauth_clients_tenant ON oauth_clients (tenant_id);

-- Several secrets may be valid at once so a secret is rotated without
-- downtime; each has an expiry. Only SHA-256 hashes are kept.
CREATE TABLE oauth_client_secrets (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    secret_hash  TEXT NOT NULL,
    hint         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT
);
CREATE INDEX oauth_client_secrets_client ON oauth_client_secrets (client_id);

-- A grant is one approved connection (authorization code flow) or one
-- client's client-credentials access. Revoking it ends every token it issued.
CREATE TABLE oauth_grants (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_id     TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    admin_id      TEXT,
    kind          TEXT NOT NULL,
    scope         TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT,
    revoked_reason TEXT,
    last_used_at  TEXT
);
CREATE INDEX oauth_grants_tenant ON oauth_grants (tenant_id, created_at);
CREATE INDEX oauth_grants_client ON oauth_grants (client_id);

-- Authorization codes: single use, short-lived, bound to everything the
-- authorization request named. grant_id is set when the code is exchanged,
-- so that a second use can revoke what the first issued.
CREATE TABLE oauth_codes (
    code_hash              TEXT PRIMARY KEY,
    client_id              TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    tenant_id              TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    admin_id               TEXT NOT NULL,
    redirect_uri           TEXT NOT NULL,
    redirect_uri_sent      BIGINT NOT NULL,
    scope                  TEXT NOT NULL,
    code_challenge         TEXT,
    created_at             TEXT NOT NULL,
    expires_at             TEXT NOT NULL,
    used_at                TEXT,
    grant_id               TEXT
);

-- Refresh tokens rotate on every use. replaced_by links a used token to its
-- successor: presenting a used token is reuse (the whole grant is revoked)
-- unless it is the immediate predecessor within the grace window.
CREATE TABLE oauth_refresh_tokens (
    id           TEXT PRIMARY KEY,
    grant_id     TEXT NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    used_at      TEXT,
    replaced_by  TEXT,
    revoked_at   TEXT,
    CONSTRAINT oauth_refresh_tokens_hash_key UNIQUE (token_hash)
);
CREATE INDEX oauth_refresh_tokens_grant ON oauth_refresh_tokens (grant_id);

-- Access tokens live in api_tokens (kind 'access') beside secret tokens, so
-- the SCIM API checks every bearer credential with one indexed lookup.
ALTER TABLE api_tokens ADD COLUMN grant_id TEXT;
ALTER TABLE api_tokens ADD COLUMN client_id TEXT;
CREATE INDEX api_tokens_grant ON api_tokens (grant_id);

-- Browser sessions, shared by every instance. data is the serialised record;
-- expires_at is a Unix time in seconds.
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    data        TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Failed sign-ins per account and per client address, for slowing down and
-- then refusing password guessing.
CREATE TABLE signin_throttle (
    key            TEXT PRIMARY KEY,
    failures       BIGINT NOT NULL,
    window_start   TEXT NOT NULL,
    locked_until   TEXT
);
