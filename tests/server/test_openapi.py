"""``GET /openapi.json``: every endpoint described, with its form body and error shapes, refs resolvable."""

from __future__ import annotations

from typing import Any

import httpx

from tokenturn.server.app import TokenturnApp


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


async def document(http: httpx.AsyncClient) -> dict[str, Any]:
    r = await http.get("/openapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body: dict[str, Any] = r.json()
    return body


async def test_every_route_of_the_app_is_described(http: httpx.AsyncClient, app: TokenturnApp) -> None:
    doc = await document(http)
    assert doc["openapi"].startswith("3.1")
    documented = set(doc["paths"])
    for path in app.routes:
        assert path in documented or path + "/" in documented, path


async def test_form_endpoints_describe_their_bodies_and_errors(http: httpx.AsyncClient) -> None:
    doc = await document(http)
    for path in ("/auth/token/", "/auth/revoke_token/", "/auth/introspect/"):
        op = doc["paths"][path]["post"]
        assert "application/x-www-form-urlencoded" in op["requestBody"]["content"]
        for status in ("400", "401", "405", "413", "429", "503"):
            assert op["responses"][status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }
    grants = doc["paths"]["/auth/token/"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert len(grants["schema"]["oneOf"]) == 3
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "error_description"]
    me = doc["paths"]["/v1/me/"]["get"]
    assert {"200", "400", "401", "403"} <= set(me["responses"])
    assert me["security"] == [{"bearer": []}]


async def test_every_ref_resolves(http: httpx.AsyncClient) -> None:
    doc = await document(http)
    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"], ref


async def test_servers_name_the_issuer(http: httpx.AsyncClient) -> None:
    assert (await document(http))["servers"] == [{"url": "http://tokenturn.test"}]
