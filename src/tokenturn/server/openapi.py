"""``GET /openapi.json``: an OpenAPI 3.1 description of every endpoint, so API tools can drive tokenturn.

Form bodies are described per grant (``oneOf`` keyed on ``grant_type``), every error as the
contract's ``ErrorResponse`` with the status codes contract §1-2 assigns, and the two security
schemes: HTTP Basic client authentication (RFC 6749 §2.3.1; ``client_secret_post`` is the body
fields) and bearer access tokens (RFC 6750). The document is built once per issuer.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from tokenturn import __version__
from tokenturn.core.http import HttpRequest, Response
from tokenturn.core.request import method_not_allowed
from tokenturn.server.metadata import issuer_of
from tokenturn.server.services import Services

FORM = "application/x-www-form-urlencoded"
_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _error(description: str, *, headers: tuple[str, ...] = ()) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}
    if headers:
        answer["headers"] = {h: {"schema": {"type": "string"}} for h in headers}
    return answer


_FORM_ERRORS = {
    "400": _error("invalid_request, unauthorized_client, and the endpoint's own codes"),
    "401": _error("invalid_client", headers=("WWW-Authenticate",)),
    "405": _error("invalid_request: use POST", headers=("Allow",)),
    "413": _error("invalid_request: the body is over 64 KiB"),
    "429": _error("too_many_requests: too many failed client authentications", headers=("Retry-After",)),
    "503": _error("temporarily_unavailable: the store cannot be reached", headers=("Retry-After",)),
}
_CLIENT_AUTH: list[dict[str, list[str]]] = [{"clientBasic": []}, {}]  # Basic, or client_id/client_secret in the body


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


_CLIENT_FIELDS = {
    "client_id": _string("client_secret_post or a public client; optional with Basic"),
    "client_secret": _string("client_secret_post only"),
}


def _grant(grant_type: str, required: list[str], **fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["grant_type", *required],
        "properties": {"grant_type": {"const": grant_type}, **fields, **_CLIENT_FIELDS},
    }


def _schemas() -> dict[str, Any]:
    scope = _string("space-separated scopes; absent = the client's (or family's) full scope")
    token = _string("a tokenturn access or refresh token")
    hint = {"type": "string", "enum": ["access_token", "refresh_token"], "description": "a hint, not a filter"}
    return {
        "Error": {
            "type": "object",
            "required": ["error", "error_description"],
            "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
            "additionalProperties": False,
        },
        "PasswordGrant": _grant(
            "password",
            ["username", "password"],
            username=_string("resource owner"),
            password=_string("secret"),
            scope=scope,
        ),
        "ClientCredentialsGrant": _grant("client_credentials", [], scope=scope),
        "RefreshTokenGrant": _grant(
            "refresh_token", ["refresh_token"], refresh_token=_string("the current refresh token"), scope=scope
        ),
        "AccessToken": {
            "type": "object",
            "required": ["access_token", "expires_in", "token_type", "scope"],
            "properties": {
                "access_token": {"type": "string"},
                "expires_in": {"type": "integer"},
                "token_type": {"const": "Bearer"},
                "scope": {"type": "string"},
                "refresh_token": {"type": "string", "description": "absent for client_credentials"},
            },
            "additionalProperties": False,
        },
        "TokenRequest": {
            "type": "object",
            "required": ["token"],
            "properties": {"token": token, "token_type_hint": hint, **_CLIENT_FIELDS},
        },
        "Introspection": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["active"],
                    "properties": {"active": {"const": False}},
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "required": ["active", "scope", "client_id", "token_type", "exp", "iat", "sub"],
                    "properties": {
                        "active": {"const": True},
                        "scope": {"type": "string"},
                        "client_id": {"type": "string"},
                        "username": {"type": "string", "description": "absent for client_credentials tokens"},
                        "token_type": {"enum": ["Bearer", "refresh_token"]},
                        "exp": {"type": "integer"},
                        "iat": {"type": "integer"},
                        "sub": {"type": "string", "description": "the username, or the client_id"},
                    },
                    "additionalProperties": False,
                },
            ]
        },
        "Me": {
            "type": "object",
            "required": ["username", "client_id", "scope"],
            "properties": {
                "username": {"type": ["string", "null"]},
                "client_id": {"type": "string"},
                "scope": {"type": "string"},
            },
        },
        "Metadata": {"type": "object", "description": "RFC 8414 §2 authorization server metadata"},
        "Status": {"type": "object", "properties": {"status": {"type": "string"}}},
    }


def _form_post(summary: str, schema: dict[str, Any], ok: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "security": _CLIENT_AUTH,
            "requestBody": {"required": True, "content": {FORM: {"schema": schema}}},
            "responses": {"200": ok, **_FORM_ERRORS},
        }
    }


def _json_ok(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _paths() -> dict[str, Any]:
    grants = {
        "oneOf": [_ref("PasswordGrant"), _ref("ClientCredentialsGrant"), _ref("RefreshTokenGrant")],
        "discriminator": {"propertyName": "grant_type"},
    }
    token_op = _form_post(
        "Issue or refresh tokens (RFC 6749 §4.3, §4.4, §6)", grants, _json_ok("tokens", "AccessToken")
    )
    token_op["post"]["responses"]["400"] = _error(
        "invalid_request, invalid_grant, invalid_scope, unauthorized_client, unsupported_grant_type"
    )
    bearer_errors = {
        "400": _error("invalid_request: malformed Authorization header", headers=("WWW-Authenticate",)),
        "401": _error("invalid_token: missing, unknown, expired or revoked", headers=("WWW-Authenticate",)),
        "403": _error("insufficient_scope", headers=("WWW-Authenticate",)),
        "503": _FORM_ERRORS["503"],
    }
    status = {"get": {"responses": {"200": _json_ok("up", "Status"), "503": _json_ok("not ready", "Status")}}}
    return {
        "/auth/token/": token_op,
        "/auth/revoke_token/": _form_post(
            "Revoke a token (RFC 7009): a refresh token ends its family",
            _ref("TokenRequest"),
            {"description": "revoked, or unknown: empty body"},
        ),
        "/auth/introspect/": _form_post(
            "Introspect a token (RFC 7662)", _ref("TokenRequest"), _json_ok("the token's state", "Introspection")
        ),
        "/.well-known/oauth-authorization-server": {
            "get": {"summary": "RFC 8414 metadata", "responses": {"200": _json_ok("metadata", "Metadata")}}
        },
        "/v1/me/": {
            "get": {
                "summary": "Who the access token speaks for (RFC 6750)",
                "security": [{"bearer": []}],
                "responses": {"200": _json_ok("the principal", "Me"), **bearer_errors},
            }
        },
        "/healthz": {"get": {"summary": "The process is up", "responses": {"200": _json_ok("up", "Status")}}},
        "/readyz": {"get": {"summary": "The store is reachable", **status["get"]}},
        "/metrics": {
            "get": {
                "summary": "Prometheus text exposition",
                "responses": {
                    "200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}
                },
            }
        },
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    }


@functools.lru_cache(maxsize=8)
def openapi_bytes(issuer: str) -> bytes:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "tokenturn", "version": __version__, "description": "OAuth 2.0 token service"},
        "servers": [{"url": issuer}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "clientBasic": {"type": "http", "scheme": "basic", "description": "client_secret_basic"},
                "bearer": {"type": "http", "scheme": "bearer", "description": "a tokenturn access token"},
            },
        },
    }
    return json.dumps(document, separators=(",", ":")).encode()


class OpenAPIEndpoint:
    def __init__(self, services: Services) -> None:
        self.s = services

    async def __call__(self, request: HttpRequest) -> Response:
        if request.method not in ("GET", "HEAD"):
            raise method_not_allowed("GET", "HEAD")
        return Response(200, (("content-type", "application/json"),), openapi_bytes(issuer_of(self.s, request)))
