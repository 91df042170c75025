"""The refresh-token lifecycle as pure decisions (RFC 6749 §6, RFC 9700 §4.14, contract §1)."""

from __future__ import annotations

import dataclasses

import pytest

from tokenturn.core.crypto import Keys
from tokenturn.core.errors import InvalidGrant, InvalidScope
from tokenturn.core.grants import refresh_token as grant
from tokenturn.core.grants.base import Policy, issue_tokens
from tokenturn.core.models import AccessToken, Client, RefreshToken, Rotation

KEYS = Keys("x" * 32)
POLICY = Policy(access_ttl=600, refresh_ttl=3600, family_ttl=86400, grace=10)
NOW = 1_800_000_000
APP = Client("app", "App", KEYS.hash_token("s"), frozenset({"password", "refresh_token"}), frozenset({"read", "write"}))
OTHER = dataclasses.replace(APP, client_id="other")
PRESENTED = "tt_rt_presented"


def record(**changes: object) -> RefreshToken:
    base = RefreshToken(
        KEYS.hash_token(PRESENTED), "fam", "app", "alice", "read write", NOW - 100, NOW + 3500, NOW + 80000
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_rotation_derives_successors_deterministically() -> None:
    plan = grant.plan_rotation(PRESENTED, record(), APP, {}, NOW, POLICY, KEYS)
    assert isinstance(plan, Rotation)
    again = grant.plan_rotation(PRESENTED, record(), APP, {}, NOW + 3, POLICY, KEYS)
    assert isinstance(again, Rotation)
    assert (plan.access_token, plan.refresh_token) == (again.access_token, again.refresh_token)
    assert plan.refresh_token.startswith("tt_rt_") and plan.access_token.startswith("tt_at_")
    assert plan.refresh.token_hash == KEYS.hash_token(plan.refresh_token)
    assert plan.access.expires_at == NOW + 600
    assert plan.refresh.expires_at == NOW + 3600
    assert plan.refresh.scope == "read write"


def test_refreshing_never_extends_a_family_past_its_absolute_end() -> None:
    plan = grant.plan_rotation(PRESENTED, record(family_expires_at=NOW + 300), APP, {}, NOW, POLICY, KEYS)
    assert isinstance(plan, Rotation)
    assert plan.access.expires_at == NOW + 300
    assert plan.refresh.expires_at == NOW + 300


def test_narrower_scope_narrows_the_access_token_only() -> None:
    plan = grant.plan_rotation(PRESENTED, record(), APP, {"scope": "read"}, NOW, POLICY, KEYS)
    assert isinstance(plan, Rotation)
    assert plan.access.scope == "read"
    assert plan.refresh.scope == "read write"


@pytest.mark.parametrize(
    ("rec", "client", "form", "error"),
    [
        (None, APP, {}, InvalidGrant),  # unknown
        (record(expires_at=NOW), APP, {}, InvalidGrant),  # idle lifetime over
        (record(family_expires_at=NOW - 1), APP, {}, InvalidGrant),  # absolute lifetime over
        (record(family_revoked=True), APP, {}, InvalidGrant),
        (record(user_disabled=True), APP, {}, InvalidGrant),
        (record(), OTHER, {}, InvalidGrant),  # issued to another client, unused: refused, not theft
        (record(), APP, {"scope": "read admin"}, InvalidScope),  # wider than the original grant
        (record(), APP, {"scope": "bad\\scope"}, InvalidScope),
    ],
)
def test_refusals(rec: RefreshToken | None, client: Client, form: dict[str, str], error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        grant.plan_rotation(PRESENTED, rec, client, form, NOW, POLICY, KEYS)
    assert not isinstance(info.value, grant.ReuseDetected)


def test_used_token_from_another_client_is_theft() -> None:
    with pytest.raises(grant.ReuseDetected) as info:
        grant.plan_rotation(PRESENTED, record(used_at=NOW - 1.0), OTHER, {}, NOW, POLICY, KEYS)
    assert info.value.family_id == "fam"


def test_used_token_goes_to_the_replay_decision() -> None:
    plan = grant.plan_rotation(PRESENTED, record(used_at=NOW - 1.0), APP, {}, NOW, POLICY, KEYS)
    assert isinstance(plan, grant.AlreadyUsed)


def successors(used: bool = False, revoked: bool = False) -> tuple[AccessToken, RefreshToken]:
    at, rt = KEYS.successors(PRESENTED)
    access = AccessToken(KEYS.hash_token(at), "app", "alice", "read", NOW - 2, NOW - 2 + 600, "fam", revoked)
    refresh = record(token_hash=KEYS.hash_token(rt), used_at=NOW - 1.0 if used else None)
    return access, refresh


def test_replay_inside_grace_returns_the_same_pair_counting_down() -> None:
    access, refresh = successors()
    replay = grant.decide_replay(PRESENTED, record(used_at=NOW - 2.0), APP, access, refresh, NOW, POLICY, KEYS)
    assert (replay.access_token, replay.refresh_token) == KEYS.successors(PRESENTED)
    assert replay.expires_in == 598
    assert replay.scope == "read"


@pytest.mark.parametrize(
    ("used_at", "successor_used", "client", "grace"),
    [
        (NOW - 10.0, False, APP, 10),  # exactly at the end of the window
        (NOW - 30.0, False, APP, 10),  # after the window
        (NOW - 1.0, True, APP, 10),  # successor already used
        (NOW - 0.1, False, OTHER, 10),  # another client
        (NOW - 0.0, False, APP, 0),  # strict rotation
    ],
)
def test_replay_that_is_reuse(used_at: float, successor_used: bool, client: Client, grace: int) -> None:
    access, refresh = successors(used=successor_used)
    policy = dataclasses.replace(POLICY, grace=grace)
    with pytest.raises(grant.ReuseDetected):
        grant.decide_replay(PRESENTED, record(used_at=used_at), client, access, refresh, NOW, policy, KEYS)


def test_replay_into_a_revoked_family_is_refused() -> None:
    access, refresh = successors()
    with pytest.raises(InvalidGrant):
        grant.decide_replay(
            PRESENTED, record(used_at=NOW - 1.0, family_revoked=True), APP, access, refresh, NOW, POLICY, KEYS
        )


def test_issue_tokens_for_a_password_grant_starts_a_family() -> None:
    issue = issue_tokens(APP, "alice", "read", NOW, POLICY, KEYS, with_refresh=True)
    assert issue.family is not None and issue.refresh is not None and issue.refresh_token is not None
    assert issue.family.expires_at == NOW + 86400
    assert issue.access.family_id == issue.family.family_id
    no_refresh = issue_tokens(APP, None, "read", NOW, POLICY, KEYS, with_refresh=False)
    assert no_refresh.family is None and no_refresh.refresh_token is None


def test_tokens_have_256_bits_and_scanner_friendly_prefixes() -> None:
    import re

    from tokenturn.core.crypto import TOKEN_PATTERN

    issue = issue_tokens(APP, "alice", "read", NOW, POLICY, KEYS, with_refresh=True)
    assert re.fullmatch(TOKEN_PATTERN, issue.access_token)
    assert re.fullmatch(TOKEN_PATTERN, issue.refresh_token or "")
