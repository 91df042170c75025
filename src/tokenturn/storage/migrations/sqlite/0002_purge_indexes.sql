-- Purge deletes what expired OR was revoked past the retention. Without an index on revoked_at
-- that OR is a full scan of access_tokens / families, run under the writer lock. Partial indexes:
-- only revoked rows are in them, so issuing and rotating tokens (revoked_at NULL) never touch them.
CREATE INDEX access_tokens_revoked ON access_tokens (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX families_revoked ON families (revoked_at) WHERE revoked_at IS NOT NULL;
