"""User passwords: argon2id (RFC 9106) through argon2-cffi, verified off the event loop.

An unknown username is verified against a dummy hash of the same parameters, so "no such user"
and "wrong password" cost the same time (RFC 6819 §5.1.4.2.3: no account enumeration by timing).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tokenturn.config import Settings


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    new_hash: str | None = None  # set when the stored hash used other parameters: store this one


class Passwords:
    def __init__(self, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._dummy = self._hasher.hash("tokenturn-dummy-password")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify_sync(self, stored_hash: str | None, password: str) -> Verification:
        target = stored_hash if stored_hash is not None else self._dummy
        try:
            self._hasher.verify(target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verification(False)
        if stored_hash is None:
            return Verification(False)
        if self._hasher.check_needs_rehash(stored_hash):
            return Verification(True, self._hasher.hash(password))
        return Verification(True)

    async def verify(self, stored_hash: str | None, password: str) -> Verification:
        """argon2 releases the GIL: run it in a thread so the event loop keeps serving."""
        return await asyncio.to_thread(self.verify_sync, stored_hash, password)


def passwords_for(settings: Settings) -> Passwords:
    return Passwords(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
