"""``/openapi.json`` covers exactly ``ROUTES``; schemathesis finds nothing against a live node.

The live node is Zhengzhou's in the five-node simulator (``tests.node.sim``), synced once so
its federation material is complete, run in its own thread and event loop on 127.0.0.1
(schemathesis calls it with a blocking HTTP client), on SQLite, with one credential per role
sent on the routes that role may use, so protected routes are exercised past authorization.
Each operation gets a bounded number of positive and negative cases: no response may be a
server error, and each must have a documented status, content type and schema; a protected
route must refuse the same request without a valid credential (``ignored_auth``). Two control
tests show the checks do fail on a lying document, and one valid request per route exercises
every success schema.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.openapi.checks import IgnoredAuth, JsonSchemaError

from node.app import ROUTES
from node.openapi import build_document
from protocol.jose import KeySigner
from protocol.presentation import DisclosureRequest, present
from tests.node.conftest import national_id
from tests.node.sim import SimFederation

MAX_EXAMPLES = 40  # per operation and generation mode: about 10 s on the loaded machine


def test_document_covers_exactly_the_routes() -> None:
    doc = build_document()
    paths = doc["paths"]
    assert isinstance(paths, dict)
    documented = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    assert documented == {(r.method, r.path) for r in ROUTES}
    for route in ROUTES:
        op = paths[route.path][route.method.lower()]
        assert op["operationId"] == route.name
        if route.roles is None:
            assert op["security"] == []
        else:
            assert op["security"] == [{"bearer": []}]
            assert op["x-huxin-roles"] == sorted(r.value for r in route.roles)
            assert {"401", "403"} <= set(op["responses"])


def test_document_is_valid_openapi() -> None:
    schema = schemathesis.openapi.from_dict(build_document())
    schema.validate()
    assert len(list(schema.get_all_operations())) == len(ROUTES)


@dataclass
class LiveNode:
    """Zhengzhou's node of a synced five-node simulator, reached directly on 127.0.0.1."""

    base_url: str
    tokens: dict[str, str]
    resident: str  # a consenting resident with a score
    now: datetime  # the simulator's clock (fixed)


@pytest.fixture(scope="module")
def live_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    """The simulator in its own thread and event loop, synced once, federation pinned."""
    tmp = tmp_path_factory.mktemp("openapi")
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        sim = SimFederation(Path(tmp))
        holder["sim"] = sim
        await sim.start()
        nid, _ = await sim.resident("zhengzhou", 150)
        await sim.sync()
        holder["resident"] = nid

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as err:  # reported by the fixture below
            holder["error"] = err
        finally:
            ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert ready.wait(60), "the simulator did not start"
        assert "error" not in holder, holder.get("error")
        sim: SimFederation = holder["sim"]
        yield LiveNode(
            base_url=f"http://127.0.0.1:{sim.ports['zhengzhou'][0]}",
            tokens=dict(sim["zhengzhou"].node.tokens),
            resident=holder["resident"],
            now=sim.clock(),
        )
    finally:
        if "sim" in holder:
            asyncio.run_coroutine_threadsafe(holder["sim"].close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


SCHEMA = schemathesis.openapi.from_dict(build_document())
_ROLE_OF = {
    (r.method, r.path): None if r.roles is None else sorted(x.value for x in r.roles)[0]
    for r in ROUTES
}
CHECKS = [
    ignored_auth,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _no_server_error(operation: str, response: requests.Response) -> None:
    assert response.status_code < 500, (operation, response.status_code, response.text)


def _operation(name: str) -> Any:
    found = SCHEMA.find_operation_by_id(name)
    return found.ok() if hasattr(found, "ok") else found


def _has_input(name: str) -> bool:
    route = _operation(name).definition.raw
    return bool(route.get("parameters") or route.get("requestBody"))


#: Positive cases for every route; negative ones where there is an input to make invalid.
_CASES = [
    pytest.param(name, mode, id=f"{name}-{mode.value}")
    for name in (r.name for r in ROUTES)
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode == GenerationMode.POSITIVE or _has_input(name)
]


@pytest.mark.slow
@pytest.mark.parametrize(("operation", "mode"), _CASES)
def test_schemathesis_finds_nothing(live_node: LiveNode, operation: str, mode: Any) -> None:
    op = _operation(operation)
    role = _ROLE_OF[(op.method.upper(), op.path)]
    headers = {} if role is None else {"Authorization": f"Bearer {live_node.tokens[role]}"}
    session = requests.Session()

    @given(case=op.as_strategy(generation_mode=mode), known=st.booleans())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any, known: bool) -> None:
        if known and isinstance(case.body, dict) and "national_id" in case.body:
            case.body["national_id"] = live_node.resident  # past "unknown resident", deeper
        response = case.call(base_url=live_node.base_url, session=session, headers=headers)
        _no_server_error(operation, response)
        case.validate_response(response, checks=CHECKS)

    check()


def test_the_checks_catch_a_response_that_breaks_the_schema(live_node: LiveNode) -> None:
    """A control: the same checks fail when the document lies about a response."""
    doc = build_document()
    healthz = doc["paths"]["/healthz"]["get"]  # type: ignore[index]
    healthz["responses"]["200"]["content"]["application/json"]["schema"] = {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"const": "broken"}},
    }
    op = schemathesis.openapi.from_dict(doc).find_operation_by_id("healthz")
    op = op.ok() if hasattr(op, "ok") else op
    case = op.Case()
    response = case.call(base_url=live_node.base_url)
    assert response.status_code == 200
    with pytest.raises(FailureGroup) as caught:
        case.validate_response(response, checks=CHECKS)
    assert any(isinstance(e, JsonSchemaError) for e in caught.value.exceptions)


def _happy_requests(live: LiveNode, wallet: KeySigner) -> dict[str, tuple[dict[str, str], object]]:
    """A valid request for every route: path parameters and query, and the JSON body."""
    nid = live.resident
    return {
        "metadata": ({}, None),
        "jwks": ({}, None),
        "scale": ({}, None),
        "incentives": ({}, None),
        "federation_root": ({}, None),
        "federation_material": ({}, None),
        "federation_bundle": ({}, None),
        "status_list": ({"list_id": "1"}, None),
        "healthz": ({}, None),
        "readyz": ({}, None),
        "metrics": ({}, None),
        "openapi": ({}, None),
        "scores_push": ({}, {"national_id": national_id(4242), "score": 120, "seq": 1}),
        "scores_bulk": (
            {},
            {"records": [{"national_id": national_id(4243), "score": 90, "seq": 1}]},
        ),
        "residents_objection": ({}, {"national_id": nid, "reason": "分数有误 / wrong score"}),
        "objections_list": ({"status": "open"}, None),
        "objections_resolve": ({"objection_id": "filed"}, {"decision": "rejected", "note": "ok"}),
        "audit_verify": ({}, None),
        "incentives_replace": ({}, "current"),
        "federation_root_submit": ({}, "current"),
        "residents_consent": ({}, {"national_id": nid, "granted": True}),
        "attestations_issue": (
            {},
            {"national_id": nid, "holder_keys": [wallet.public_jwk]},
        ),
        "residents_me": ({}, {"national_id": nid}),
        "residents_audit": ({}, {"national_id": nid}),
        "verify": ({}, "presentation"),
    }


def test_every_route_answers_a_valid_request_as_documented(live_node: LiveNode) -> None:
    """The success schemas, exercised: one valid request per route, in dependency order."""
    wallet = KeySigner.generate()
    happy = _happy_requests(live_node, wallet)
    assert set(happy) == {r.name for r in ROUTES}
    session = requests.Session()
    filed, issued = 0, ""
    for name, (params, body) in happy.items():
        found = SCHEMA.find_operation_by_id(name)
        op = found.ok() if hasattr(found, "ok") else found
        role = _ROLE_OF[(op.method.upper(), op.path)]
        headers = {} if role is None else {"Authorization": f"Bearer {live_node.tokens[role]}"}
        if body == "current":  # the document the node serves now: accepted again, unchanged
            source = "/incentives" if name == "incentives_replace" else "/federation/root"
            current = session.get(live_node.base_url + source, timeout=10).json()
            body = current["roots"][-1] if name == "federation_root_submit" else current
        if body == "presentation":  # of the attestation just issued (fuzzing may have revoked
            body = {  # the older ones by withdrawing consent)
                "presentation": present(
                    issued,
                    wallet,
                    request=DisclosureRequest(level_at_least=1),
                    audience="m",
                    nonce="n-1",
                    now=live_node.now,
                ),
                "audience": "m",
                "nonce": "n-1",
            }
        if params.get("objection_id") == "filed":
            params = {"objection_id": str(filed)}
        path = {k: v for k, v in params.items() if "{" + k + "}" in op.path}
        query = {k: v for k, v in params.items() if k not in path} or None
        kwargs: dict[str, Any] = {"path_parameters": path or None, "query": query}
        if body is not None:
            kwargs.update(body=body, media_type="application/json")
        case = op.Case(**kwargs)
        response = case.call(base_url=live_node.base_url, session=session, headers=headers)
        assert response.status_code in (200, 201), (name, response.text)
        case.validate_response(response, checks=CHECKS)
        if name == "verify":
            assert response.json()["valid"] is True, response.text
        if name == "residents_objection":
            filed = response.json()["objection"]
        if name == "attestations_issue":
            issued = response.json()["attestations"][0]["sd_jwt"]


def test_the_checks_catch_a_route_that_ignores_its_credential(live_node: LiveNode) -> None:
    """A control: a route documented as protected but answering without a credential fails."""
    doc = build_document()
    healthz = doc["paths"]["/healthz"]["get"]  # type: ignore[index]
    healthz["security"] = [{"bearer": []}]
    healthz["responses"]["401"] = {"description": "no credential"}
    op = schemathesis.openapi.from_dict(doc).find_operation_by_id("healthz")
    op = op.ok() if hasattr(op, "ok") else op
    case = op.Case()
    headers = {"Authorization": f"Bearer {live_node.tokens['office']}"}
    response = case.call(base_url=live_node.base_url, headers=headers)
    with pytest.raises(FailureGroup) as caught:
        case.validate_response(response, checks=CHECKS, headers=headers)
    assert any(isinstance(e, IgnoredAuth) for e in caught.value.exceptions), caught.value
