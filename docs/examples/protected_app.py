"""Protecting your own Starlette routes with tokenturn access tokens (see the README, "Protecting your own routes").

Run it next to a tokenturn server sharing its store and key::

    TOKENTURN_DATABASE_URL=sqlite:///tokenturn.db uvicorn --factory docs.examples.protected_app:create_app
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from tokenturn.config import load_settings
from tokenturn.server.resource import (
    BearerAuth,
    BearerAuthMiddleware,
    BearerError,
    bearer_error_handler,
    principal_of,
)


def create_app(auth: BearerAuth | None = None) -> Starlette:
    # Same TOKENTURN_DATABASE_URL and TOKENTURN_SECRET_KEY as the tokenturn server.
    auth = auth or BearerAuth.from_settings(load_settings())
    require_read = auth.require("read")
    require_admin = auth.require("admin")

    # 1. A dependency per route: the route says which scopes it needs.
    async def reports(request: Request) -> JSONResponse:
        principal = await require_read(request)  # 401/403 raised as BearerError
        return JSONResponse({"user": principal.username, "client": principal.client_id})

    async def admin_settings(request: Request) -> JSONResponse:
        await require_admin(request)  # 403 insufficient_scope unless the token has "admin"
        return JSONResponse({"ok": True})

    # 2. Middleware over a whole sub-application: every route behind it needs a "read" token.
    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse(principal_of(request).as_json())

    api = Starlette(routes=[Route("/whoami", whoami)])

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await auth.close()

    app = Starlette(
        routes=[
            Route("/reports", reports),
            Route("/admin/settings", admin_settings),
            Mount("/api", BearerAuthMiddleware(api, auth, scopes=["read"])),
        ],
        exception_handlers={BearerError: bearer_error_handler},  # RFC 6750 errors as JSON
        lifespan=lifespan,
    )
    return app
