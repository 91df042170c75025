"""The ``tokenturn`` command (contract §4): thin over the server, storage, client and proxy.

One module per command group; each registers its commands on :data:`app`.
"""

from __future__ import annotations

from tokenturn.cli import admin as _admin  # noqa: F401  (registers commands)
from tokenturn.cli import proxy as _proxy  # noqa: F401
from tokenturn.cli import remote as _remote  # noqa: F401
from tokenturn.cli import serve as _serve  # noqa: F401
from tokenturn.cli._common import app

__all__ = ["app", "main"]


def main() -> None:
    app()
