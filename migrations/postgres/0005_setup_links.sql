-- First-start setup links (PostgreSQL; twin of migrations/sqlite/0005_setup_links.sql).
-- When scimgate starts on a database without any console account it prints
-- a link that creates the first operator. Only the SHA-256 of the link's
-- token is kept, in the database so that any instance honours it; a link
-- works once, for 24 hours, and only while no operator exists.
CREATE TABLE setup_links (
    token_hash  TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);
