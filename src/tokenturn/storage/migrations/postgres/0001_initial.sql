-- tokenturn schema v1 (PostgreSQL; also CockroachDB/YugabyteDB). Same tables and columns as
-- migrations/sqlite/0001_initial.sql: bytea for the 32-byte keyed hashes, bigint epoch seconds,
-- double precision for used_at (sub-second, for the grace window). Applied under an advisory lock.
CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE clients (
    client_id     text PRIMARY KEY,
    name          text NOT NULL,
    secret_hash   bytea,              -- NULL: public client
    grant_types   text NOT NULL,      -- space-separated
    scope         text NOT NULL,      -- space-separated
    introspection boolean NOT NULL DEFAULT false,
    created_at    bigint NOT NULL
);

CREATE TABLE users (
    username      text PRIMARY KEY,
    password_hash text NOT NULL,      -- argon2id PHC string
    disabled      boolean NOT NULL DEFAULT false,
    created_at    bigint NOT NULL
);

-- All tokens descending from one password grant; revoking the family revokes every one of them.
CREATE TABLE families (
    family_id  text PRIMARY KEY,
    client_id  text NOT NULL,
    username   text,
    scope      text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,       -- absolute end (TOKENTURN_FAMILY_TTL)
    revoked_at bigint
);
CREATE INDEX families_client ON families (client_id);
CREATE INDEX families_expires ON families (expires_at);

-- fillfactor < 100 leaves room on each page so that setting used_at (no index on it) is a HOT update.
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,
    family_id  text NOT NULL,
    issued_at  bigint NOT NULL,
    expires_at bigint NOT NULL,       -- idle end, never past the family's end
    used_at    double precision       -- set once, by the one rotation that wins
) WITH (fillfactor = 90);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE access_tokens (
    token_hash bytea PRIMARY KEY,
    client_id  text NOT NULL,
    username   text,
    scope      text NOT NULL,
    issued_at  bigint NOT NULL,
    expires_at bigint NOT NULL,
    family_id  text,                  -- NULL for client_credentials tokens
    revoked_at bigint
);
CREATE INDEX access_tokens_family ON access_tokens (family_id);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);
