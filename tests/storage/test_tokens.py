"""The token store contract (RFC 9700 §4.14.2): exactly-once rotation, revocation, lookups, purge."""

from __future__ import annotations

import asyncio

from tokenturn.storage import Storage, open_storage

from .conftest import NOW, h, make_client, make_grant, make_user, rotation_of


async def test_rotate_uses_the_token_and_inserts_the_successors(storage: Storage) -> None:
    grant = await make_grant(storage, await make_client(storage), await make_user(storage))
    rotation = rotation_of(grant, grant.refresh.token_hash, now=NOW + 10.25)
    assert await storage.rotate(rotation) is True
    used = await storage.get_refresh_token(grant.refresh.token_hash)
    assert used is not None and used.used_at == NOW + 10.25
    successor = await storage.get_refresh_token(rotation.refresh.token_hash)
    assert successor is not None and successor.used_at is None
    assert successor.family_id == grant.family.family_id and successor.scope == "read write"
    access = await storage.get_access_token(rotation.access.token_hash)
    assert access is not None and access.scope == "read" and not access.revoked


async def test_fifty_concurrent_rotations_of_one_token_have_exactly_one_winner(storage: Storage) -> None:
    """Fifty racing rotations: one True, and only the winner's successor exists."""
    grant = await make_grant(storage, await make_client(storage), await make_user(storage))
    rotations = [rotation_of(grant, grant.refresh.token_hash) for _ in range(50)]
    results = await asyncio.gather(*(storage.rotate(r) for r in rotations))
    assert results.count(True) == 1
    winner = rotations[results.index(True)]
    present = [await storage.get_refresh_token(r.refresh.token_hash) is not None for r in rotations]
    assert present.count(True) == 1 and present[results.index(True)]
    assert [await storage.get_access_token(r.access.token_hash) is not None for r in rotations].count(True) == 1
    assert await storage.get_access_token(winner.access.token_hash) is not None


async def test_rotations_racing_through_two_connections_have_one_winner(storage: Storage, storage_url: str) -> None:
    """Two store instances (two nodes, two pools) racing on one token: one rotation in total."""
    other = open_storage(storage_url)
    try:
        grant = await make_grant(storage, await make_client(storage), await make_user(storage))
        rotations = [rotation_of(grant, grant.refresh.token_hash) for _ in range(40)]
        stores = [storage, other] * 20
        results = await asyncio.gather(*(s.rotate(r) for s, r in zip(stores, rotations, strict=True)))
        assert results.count(True) == 1
    finally:
        await other.close()


async def test_rotate_of_a_used_token_changes_nothing(storage: Storage) -> None:
    grant = await make_grant(storage, await make_client(storage), await make_user(storage))
    assert await storage.rotate(rotation_of(grant, grant.refresh.token_hash, now=NOW + 1))
    late = rotation_of(grant, grant.refresh.token_hash, now=NOW + 2)
    assert await storage.rotate(late) is False
    assert await storage.get_refresh_token(late.refresh.token_hash) is None
    used = await storage.get_refresh_token(grant.refresh.token_hash)
    assert used is not None and used.used_at == NOW + 1


async def test_rotate_in_a_revoked_family_fails(storage: Storage) -> None:
    grant = await make_grant(storage, await make_client(storage), await make_user(storage))
    assert await storage.revoke_family(grant.family.family_id, NOW + 1)
    assert await storage.rotate(rotation_of(grant, grant.refresh.token_hash)) is False
    record = await storage.get_refresh_token(grant.refresh.token_hash)
    assert record is not None and record.used_at is None and record.family_revoked


async def test_rotate_of_an_unknown_token_fails(storage: Storage) -> None:
    grant = await make_grant(storage, await make_client(storage), await make_user(storage))
    assert await storage.rotate(rotation_of(grant, h())) is False


async def test_revoking_a_family_revokes_its_access_and_refresh_tokens(storage: Storage) -> None:
    client, user = await make_client(storage), await make_user(storage)
    grant, bystander = await make_grant(storage, client, user), await make_grant(storage, client, user)
    rotation = rotation_of(grant, grant.refresh.token_hash)
    assert await storage.rotate(rotation)
    assert await storage.revoke_family(grant.family.family_id, NOW + 20) is True
    assert await storage.revoke_family(grant.family.family_id, NOW + 21) is False  # already revoked
    for access_hash in (grant.access.token_hash, rotation.access.token_hash):
        record = await storage.get_access_token(access_hash)
        assert record is not None and record.revoked
    successor = await storage.get_refresh_token(rotation.refresh.token_hash)
    assert successor is not None and successor.family_revoked
    other = await storage.get_access_token(bystander.access.token_hash)
    assert other is not None and not other.revoked
    assert await storage.revoke_family("no-such-family", NOW) is False


async def test_revoking_an_access_token_leaves_its_family_alone(storage: Storage) -> None:
    grant = await make_grant(storage, await make_client(storage), await make_user(storage))
    rotation = rotation_of(grant, grant.refresh.token_hash)
    assert await storage.rotate(rotation)
    assert await storage.revoke_access_token(grant.access.token_hash, NOW + 20) is True
    assert await storage.revoke_access_token(grant.access.token_hash, NOW + 21) is False
    revoked = await storage.get_access_token(grant.access.token_hash)
    assert revoked is not None and revoked.revoked
    sibling = await storage.get_access_token(rotation.access.token_hash)
    assert sibling is not None and not sibling.revoked
    refresh = await storage.get_refresh_token(rotation.refresh.token_hash)
    assert refresh is not None and not refresh.family_revoked


async def test_a_disabled_user_shows_on_access_and_refresh_lookups(storage: Storage) -> None:
    user = await make_user(storage)
    grant = await make_grant(storage, await make_client(storage), user)
    assert await storage.set_user_disabled(user.username, True)
    access = await storage.get_access_token(grant.access.token_hash)
    assert access is not None and access.revoked
    refresh = await storage.get_refresh_token(grant.refresh.token_hash)
    assert refresh is not None and refresh.user_disabled and not refresh.family_revoked
    assert await storage.set_user_disabled(user.username, False)
    access = await storage.get_access_token(grant.access.token_hash)
    assert access is not None and not access.revoked


async def test_deleting_a_client_removes_its_tokens(storage: Storage) -> None:
    client = await make_client(storage)
    grant = await make_grant(storage, client, await make_user(storage))
    assert await storage.delete_client(client.client_id)
    assert await storage.get_access_token(grant.access.token_hash) is None
    assert await storage.get_refresh_token(grant.refresh.token_hash) is None


async def test_lookups_return_the_stored_fields(storage: Storage) -> None:
    client, user = await make_client(storage), await make_user(storage)
    grant = await make_grant(storage, client, user)
    refresh = await storage.get_refresh_token(grant.refresh.token_hash)
    assert refresh == grant.refresh
    access = await storage.get_access_token(grant.access.token_hash)
    assert access == grant.access
    assert await storage.get_refresh_token(h()) is None and await storage.get_access_token(h()) is None


async def test_client_credentials_tokens_have_no_family(storage: Storage) -> None:
    from tokenturn.core.models import AccessToken, Issue

    client = await make_client(storage)
    access = AccessToken(h(), client.client_id, None, "read", NOW, NOW + 60, None)
    await storage.save_issue(Issue("plain", access))
    assert await storage.get_access_token(access.token_hash) == access


async def test_purge_deletes_only_what_is_expired_or_revoked_past_retention(storage: Storage) -> None:
    client, user = await make_client(storage), await make_user(storage)
    retention = 100
    live = await make_grant(storage, client, user, now=NOW)
    # Access token and unused refresh token long expired, family still alive.
    stale = await make_grant(storage, client, user, now=NOW - 10_000, ttl=60, family_ttl=100_000)
    expired_family = await make_grant(storage, client, user, now=NOW - 10_000, ttl=60, family_ttl=1000)
    revoked_long_ago = await make_grant(storage, client, user, now=NOW)
    revoked_recently = await make_grant(storage, client, user, now=NOW)
    used = rotation_of(live, live.refresh.token_hash, now=NOW + 1)
    assert await storage.rotate(used)
    await storage.revoke_family(revoked_long_ago.family.family_id, NOW - retention - 1)
    await storage.revoke_family(revoked_recently.family.family_id, NOW - retention + 10)

    deleted = await storage.purge(NOW + 5, retention)
    assert deleted > 0
    # Live family: everything stays, including the used refresh token (needed for reuse detection).
    assert await storage.get_refresh_token(live.refresh.token_hash) is not None
    assert await storage.get_refresh_token(used.refresh.token_hash) is not None
    assert await storage.get_access_token(live.access.token_hash) is not None
    # Expired access token and expired, unused refresh token of a live family: gone.
    assert await storage.get_access_token(stale.access.token_hash) is None
    assert await storage.get_refresh_token(stale.refresh.token_hash) is None
    # Families past their end or revoked past retention: gone with their refresh tokens. Their
    # access tokens are gone too or, not yet expired, still stored but dead (SQLite purges access
    # tokens by their own expiry only): never usable again.
    for gone in (expired_family, revoked_long_ago):
        assert await storage.get_refresh_token(gone.refresh.token_hash) is None
        leftover = await storage.get_access_token(gone.access.token_hash)
        assert leftover is None or leftover.revoked
    assert await storage.get_access_token(expired_family.access.token_hash) is None
    # Revoked within retention: kept (revoked) for the audit trail.
    kept = await storage.get_access_token(revoked_recently.access.token_hash)
    assert kept is not None and kept.revoked
    assert await storage.purge(NOW + 5, retention) == 0


async def test_purge_deletes_at_most_a_batch_per_call(storage: Storage) -> None:
    client = await make_client(storage)
    from tokenturn.core.models import AccessToken, Issue

    for _ in range(7):
        await storage.save_issue(Issue("p", AccessToken(h(), client.client_id, None, "read", NOW - 500, NOW - 400)))
    assert await storage.purge(NOW, 0, batch=5) == 5
    assert await storage.purge(NOW, 0, batch=5) == 2


async def test_purge_keeps_access_tokens_for_the_longest_grace_window(storage: Storage) -> None:
    """Even with zero retention: a grace-window replay must still find the successor access token."""
    from tokenturn.core.models import AccessToken, Issue
    from tokenturn.storage.base import MAX_GRACE_SECONDS

    client = await make_client(storage)
    recent = AccessToken(h(), client.client_id, None, "read", NOW - 100, NOW - MAX_GRACE_SECONDS + 5)
    old = AccessToken(h(), client.client_id, None, "read", NOW - 200, NOW - MAX_GRACE_SECONDS - 5)
    for access in (recent, old):
        await storage.save_issue(Issue("p", access))
    assert await storage.purge(NOW, 0) == 1
    assert await storage.get_access_token(recent.token_hash) is not None
    assert await storage.get_access_token(old.token_hash) is None


async def test_concurrent_purges_from_several_nodes_delete_each_record_once(storage: Storage, storage_url: str) -> None:
    """Every node runs the background purge; together they delete what one would, without errors."""
    from tokenturn.core.models import AccessToken, Issue

    stores = [storage, open_storage(storage_url), open_storage(storage_url)]
    try:
        client = await make_client(stores[0])
        for _ in range(30):
            await stores[0].save_issue(Issue("p", AccessToken(h(), client.client_id, None, "r", NOW - 500, NOW - 400)))
        total = 0
        for _ in range(10):
            total += sum(await asyncio.gather(*(s.purge(NOW, 0, batch=10) for s in stores)))
        assert total == 30
    finally:
        for s in stores[1:]:
            await s.close()


async def test_an_access_token_outliving_its_purged_family_stays_dead(storage: Storage) -> None:
    """Zero retention purges a revoked family at once; its unexpired access token must not come back."""
    client, user = await make_client(storage), await make_user(storage)
    grant = await make_grant(storage, client, user, now=NOW)
    await storage.revoke_family(grant.family.family_id, NOW)
    await storage.purge(NOW + 1, 0)
    assert await storage.get_refresh_token(grant.refresh.token_hash) is None
    leftover = await storage.get_access_token(grant.access.token_hash)
    assert leftover is None or leftover.revoked
