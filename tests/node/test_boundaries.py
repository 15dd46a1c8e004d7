"""Every route's role boundary, and bad input on every endpoint answered with a stable code
and nothing stored -- table-driven over ``node.app.ROUTES`` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from node import appkeys
from node.app import ROUTES, Route, create_app
from node.models import METADATA
from tests.node.conftest import Node, holder_keys, national_id

pytestmark = pytest.mark.asyncio

NID = national_id(7)
#: A concrete path for each templated route.
_PATHS = {
    "/status/{list_id}": "/status/999",  # no such list: list 1 is opened at start-up
    "/v1/objections/{objection_id}/resolve": "/v1/objections/1/resolve",
}


def _path(route: Route) -> str:
    return _PATHS.get(route.path, route.path)


async def _counts(node: Node) -> dict[str, int]:
    out = {}
    async with node.app[appkeys.ENGINE].connect() as conn:
        for name, table in METADATA.tables.items():
            out[name] = int(
                (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            )
    return out


async def test_every_route_refuses_wrong_roles(node: Node) -> None:
    protected = [r for r in ROUTES if r.roles is not None]
    assert protected, "no protected routes?"
    for route in protected:
        path = _path(route)
        resp = await node.call(route.method, path)
        assert resp.status == 401, (route.name, resp.status)
        assert (await resp.json())["error"] == "unauthorized"
        resp = await node.call(route.method, path, headers={"Authorization": "Bearer hx_forged"})
        assert resp.status == 401, route.name
        resp = await node.call(route.method, path, headers={"Authorization": "Basic abc"})
        assert resp.status == 401, route.name
        assert route.roles is not None
        for role in ("office", "app", "merchant"):
            if role in route.roles:
                continue
            resp = await node.call(route.method, path, role=role, json={})
            assert resp.status == 403, (route.name, role, resp.status)
            assert (await resp.json())["error"] == "forbidden"
    for route in ROUTES:
        if route.roles is None:
            resp = await node.call(route.method, _path(route))
            assert resp.status != 401, route.name


async def test_revoked_credential_stops_working(node: Node) -> None:
    from node import auth

    assert (await node.call("GET", "/v1/objections", role="office")).status == 200
    await auth.revoke_credential(
        node.app[appkeys.ENGINE], name="test-office", actor="test", now=node.clock()
    )
    resp = await node.call("GET", "/v1/objections", role="office")
    assert resp.status == 401


def _big(n: int) -> str:
    return json.dumps({"national_id": NID, "reason": "x" * n})


# (route name, body (JSON-able object, or raw text), content type, expected status, code)
_BAD: list[tuple[str, Any, str, int, str]] = [
    ("scores_push", "{not json", "application/json", 400, "bad_request"),
    ("scores_push", "[1, 2]", "application/json", 400, "bad_request"),
    (
        "scores_push",
        '{"national_id": "1", "national_id": "2"}',
        "application/json",
        400,
        "bad_request",
    ),
    ("scores_push", {"national_id": NID, "score": "135", "seq": 1}, "", 400, "bad_request"),
    ("scores_push", {"national_id": NID, "score": 135, "seq": -1}, "", 400, "bad_request"),
    ("scores_push", {"national_id": NID, "score": 135, "seq": True}, "", 400, "bad_request"),
    ("scores_push", {"national_id": 12345678, "score": 135, "seq": 1}, "", 400, "bad_request"),
    ("scores_push", {"national_id": "x!", "score": 135, "seq": 1}, "", 400, "bad_request"),
    ("scores_push", {"national_id": NID, "score": 201, "seq": 1}, "", 422, "score_rejected"),
    ("scores_push", {"national_id": NID, "score": -1, "seq": 1}, "", 422, "score_rejected"),
    ("scores_push", {"national_id": NID, "score": 135.5, "seq": 1}, "", 422, "score_rejected"),
    ("scores_push", "NaN", "application/json", 400, "bad_request"),
    (
        "scores_push",
        {"national_id": NID, "score": 1, "seq": 1, "name": "x"},
        "",
        400,
        "bad_request",
    ),
    ("scores_push", "x" * 300_000, "application/json", 413, "payload_too_large"),
    ("scores_bulk", "national_id,score\n1,2\n", "text/csv", 400, "import_format"),
    (
        "scores_bulk",
        f"national_id,score,seq\n{NID},135,1\n{NID},999,2\n",
        "text/csv",
        422,
        "score_rejected",
    ),
    (
        "scores_bulk",
        f'{{"national_id": "{NID}", "score": 1, "seq": 1}}\n{{oops\n',
        "application/x-ndjson",
        400,
        "import_format",
    ),
    ("scores_bulk", '{"records": {"a": 1}}', "application/json", 400, "bad_request"),
    ("scores_bulk", "hello", "text/plain", 400, "import_format"),
    ("scores_bulk", b"\xff\xfe", "text/csv", 400, "import_format"),
    ("objections_resolve", {"decision": "maybe", "note": "x"}, "", 400, "bad_request"),
    ("objections_resolve", {"decision": "upheld", "note": ""}, "", 400, "bad_request"),
    ("objections_resolve", {"decision": "upheld", "note": "x"}, "", 404, "not_found"),
    ("objections_resolve", "{", "application/json", 400, "bad_request"),
    ("attestations_issue", {"national_id": NID, "holder_keys": []}, "", 400, "bad_request"),
    ("attestations_issue", {"national_id": NID, "holder_keys": "k"}, "", 400, "bad_request"),
    (
        "attestations_issue",
        {"national_id": NID, "holder_keys": [{"kty": "EC"}]},
        "",
        400,
        "bad_request",
    ),
    (
        "attestations_issue",
        {"national_id": NID, "holder_keys": [{**holder_keys(1)[0].public_jwk, "d": "AAAA"}]},
        "",
        400,
        "bad_request",
    ),
    (
        "attestations_issue",
        {"national_id": NID, "holder_keys": [holder_keys(1)[0].public_jwk] * 2},
        "",
        400,
        "bad_request",
    ),
    (
        "attestations_issue",
        {"national_id": NID, "holder_keys": [k.public_jwk for k in holder_keys(65)]},
        "",
        413,
        "payload_too_large",
    ),
    (
        "attestations_issue",
        {"national_id": national_id(9999), "holder_keys": [holder_keys(1)[0].public_jwk]},
        "",
        404,
        "unknown_resident",
    ),
    ("attestations_issue", "{", "application/json", 400, "bad_request"),
    ("residents_me", {"national_id": national_id(9999)}, "", 404, "unknown_resident"),
    ("residents_me", {"national_id": NID, "extra": 1}, "", 400, "bad_request"),
    ("residents_audit", {"national_id": ["x"]}, "", 400, "bad_request"),
    ("residents_consent", {"national_id": NID, "granted": "yes"}, "", 400, "bad_request"),
    (
        "residents_consent",
        {"national_id": national_id(9999), "granted": True},
        "",
        404,
        "unknown_resident",
    ),
    ("residents_objection", {"national_id": NID, "reason": ""}, "", 400, "bad_request"),
    (
        "residents_objection",
        {"national_id": national_id(9999), "reason": "x"},
        "",
        404,
        "unknown_resident",
    ),
    ("residents_objection", _big(3000), "application/json", 400, "bad_request"),
    ("residents_objection", _big(300_000), "application/json", 413, "payload_too_large"),
    ("verify", {"presentation": 5, "audience": "a"}, "", 400, "bad_request"),
    ("verify", {"presentation": "x" * 9000, "audience": "a"}, "", 400, "bad_request"),
    ("verify", {"presentation": "p", "audience": "a", "nonce": 3}, "", 400, "bad_request"),
    ("status_list", None, "", 404, "not_found"),
    ("incentives_replace", {"city": "zhengzhou"}, "", 422, "bad_catalogue"),
    ("incentives_replace", "[1]", "application/json", 400, "bad_request"),
    ("federation_root_submit", "{}", "application/json", 503, "federation_unavailable"),
]
_ROLE_OF = {r.name: r for r in ROUTES}


async def test_bad_input_everywhere_stores_nothing(node: Node) -> None:
    # One known resident (without consent) so "unknown resident" is distinguishable.
    await node.ok(
        "POST", "/v1/scores", role="office", json={"national_id": NID, "score": 130, "seq": 5}
    )
    before = await _counts(node)
    covered = set()
    for name, body, ctype, status, code in _BAD:
        route = _ROLE_OF[name]
        covered.add(name)
        role = None if route.roles is None else next(iter(route.roles)).value
        if isinstance(body, dict | list):
            resp = await node.call(route.method, _path(route), role=role, json=body)
        else:
            headers = {"Content-Type": ctype} if ctype else {}
            resp = await node.call(
                route.method, _path(route), role=role, data=body, headers=headers
            )
        got = await resp.json()
        assert (resp.status, got["error"]) == (status, code), (
            name,
            body if len(str(body)) < 200 else "...",
            got,
        )
        assert isinstance(got["message"], str)
        assert got["message"]
    assert await _counts(node) == before
    posting = {r.name for r in ROUTES if r.method == "POST"}
    assert posting <= covered, posting - covered
    # A bad record in a bulk body stores none of the good ones before it.
    me = await node.ok("POST", "/v1/residents/me", role="app", json={"national_id": NID})
    assert me["score"] == 130


async def test_unknown_routes_and_methods(node: Node) -> None:
    resp = await node.call("GET", "/v1/nothing-here")
    assert resp.status == 404
    assert (await resp.json())["error"] == "not_found"
    resp = await node.call("DELETE", "/v1/scores", role="office")
    assert resp.status == 405
    assert (await resp.json())["error"] == "method_not_allowed"


async def test_database_down_is_a_clean_503(tmp_path: Path) -> None:
    from tests.node.conftest import FakeClock, write_node_dir

    config = write_node_dir(tmp_path / "node", "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(config, clock=FakeClock())))
    await client.start_server()
    try:
        resp = await client.get("/readyz")
        assert resp.status == 503
        assert (await resp.json())["checks"]["database"] is False
        resp = await client.post("/v1/scores", headers={"Authorization": "Bearer hx_x"}, json={})
        assert resp.status == 503
        assert (await resp.json())["error"] == "node_unavailable"
        assert (await client.get("/healthz")).status == 200
    finally:
        await client.close()
