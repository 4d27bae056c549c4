-- Single sign-on settings of each tenant (PostgreSQL; twin of migrations/sqlite/0007_sso.sql).
-- One OpenID Connect provider per tenant, with which that tenant's admins
-- sign in to the console. The client secret is kept as given: scimgate must
-- present it to the provider's token endpoint, so it cannot be hashed. It is
-- never shown back in the console; `secret_hint` (its last characters) is.
-- `enabled` is 0 or 1.
CREATE TABLE tenant_sso (
    tenant_id      TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    issuer         TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    client_secret  TEXT NOT NULL,
    secret_hint    TEXT NOT NULL,
    enabled        INTEGER NOT NULL,
    updated_at     TEXT NOT NULL
);
