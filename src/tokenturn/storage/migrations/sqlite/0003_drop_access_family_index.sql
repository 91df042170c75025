-- Every issued or rotated access token wrote a page of this index (a random one: family ids are
-- random), and only purge read it. Purge now lets a dead family's access tokens go with their own
-- expiry, and a token whose family row is gone reads as revoked: one page fewer per grant.
DROP INDEX IF EXISTS access_tokens_family;
