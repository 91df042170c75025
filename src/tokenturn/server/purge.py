"""Background cleanup: every ``TOKENTURN_PURGE_INTERVAL`` seconds, delete expired and revoked tokens.

The same rule as ``tokenturn purge`` (:meth:`Storage.purge`): records past
``TOKENTURN_PURGE_RETENTION``, in batches, and never a used refresh token before its family's
absolute end (reuse detection needs it, RFC 9700 §4.14.2). Batches are small and the loop yields
between them, so serving continues while it runs. Every worker runs one: the deletes are
idempotent, so overlapping runs on one store are harmless, and the start is jittered so that
workers started together do not purge together. ``0`` disables it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

from tokenturn.storage import StorageUnavailable
from tokenturn.storage.base import Storage

log = logging.getLogger("tokenturn.purge")

BATCH = 500
MAX_BATCHES = 1000  # per run: a huge backlog is worked off over several intervals


class BackgroundPurge:
    def __init__(
        self, storage: Storage, clock: Callable[[], float], interval: int, retention: int, batch: int = BATCH
    ) -> None:
        self.storage, self.clock = storage, clock
        self.interval, self.retention, self.batch = interval, retention, batch
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        """Purge until nothing is left (or ``MAX_BATCHES``); return the number of records deleted."""
        total = 0
        for _ in range(MAX_BATCHES):
            n = await self.storage.purge(int(self.clock()), self.retention, self.batch)
            total += n
            if n == 0:
                break
            await asyncio.sleep(0)  # let requests in between batches
        if total:
            log.info("tokens purged", extra={"audit": {"event": "tokens.purged", "records": total}})
        return total

    async def _loop(self) -> None:
        # Jitter the first run over the interval (at most a minute) so workers spread out.
        await asyncio.sleep(random.uniform(0, min(self.interval, 60)))
        while True:
            try:
                await self.run_once()
            except StorageUnavailable:
                log.warning("purge skipped", extra={"audit": {"event": "purge.skipped", "reason": "storage"}})
            except Exception:
                log.error("purge failed", exc_info=True, extra={"audit": {"event": "purge.failed"}})
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="tokenturn-purge")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
