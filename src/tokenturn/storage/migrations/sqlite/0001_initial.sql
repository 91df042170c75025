-- tokenturn schema v1 (SQLite). Tokens and secrets are stored as 32-byte keyed hashes only.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE clients (
    client_id     TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_hash   BLOB,               -- NULL: public client
    grant_types   TEXT NOT NULL,      -- space-separated
    scope         TEXT NOT NULL,      -- space-separated
    introspection INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE users (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,      -- argon2id PHC string
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

-- All tokens descending from one password grant; revoking the family revokes every one of them.
CREATE TABLE families (
    family_id  TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    username   TEXT,
    scope      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,      -- absolute end (TOKENTURN_FAMILY_TTL)
    revoked_at INTEGER
);
CREATE INDEX families_client ON families (client_id);
CREATE INDEX families_expires ON families (expires_at);

CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    family_id  TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,      -- idle end, never past the family's end
    used_at    REAL                   -- set once, by the one rotation that wins
) WITHOUT ROWID;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE access_tokens (
    token_hash BLOB PRIMARY KEY,
    client_id  TEXT NOT NULL,
    username   TEXT,
    scope      TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    family_id  TEXT,                  -- NULL for client_credentials tokens
    revoked_at INTEGER
) WITHOUT ROWID;
CREATE INDEX access_tokens_family ON access_tokens (family_id);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);
