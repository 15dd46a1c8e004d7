"""``/openapi.json`` covers exactly ``ROUTES``; schemathesis finds nothing against a live node.

The live node runs on 127.0.0.1 in its own thread and event loop (schemathesis calls it with a
blocking HTTP client), on SQLite, with one credential per role sent on the routes that role may
use, so protected routes are exercised past authorization. Each operation gets a bounded number
of positive and negative cases; every response must be a documented status, content type and
schema, and never a server error.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.openapi.checks import JsonSchemaError

from node import appkeys, auth
from node.app import ROUTES, create_app
from node.openapi import build_document
from tests.node.conftest import FakeClock, migrate_url, national_id, write_node_dir

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
    base_url: str
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def live_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    """A node on 127.0.0.1 in a thread, one credential per role, one consenting resident."""
    tmp = tmp_path_factory.mktemp("openapi")
    url = f"sqlite+aiosqlite:///{Path(tmp) / 'node.db'}"
    config = write_node_dir(tmp / "node", url)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        await migrate_url(url)
        clock = FakeClock()
        runner = web.AppRunner(create_app(config, clock=clock), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        engine = runner.app[appkeys.ENGINE]
        holder["tokens"] = {
            role.value: await auth.add_credential(
                engine, name=f"fuzz-{role.value}", role=role, actor="test", now=clock()
            )
            for role in auth.Role
        }
        holder["runner"] = runner
        holder["port"] = runner.addresses[0][1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        finally:
            ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(30), "the live node did not start"
    assert "port" in holder, "the live node failed to start"
    base = f"http://127.0.0.1:{holder['port']}"
    tokens: dict[str, str] = holder["tokens"]
    office = {"Authorization": f"Bearer {tokens['office']}"}
    resp = requests.post(
        f"{base}/v1/scores",
        json={"national_id": national_id(1), "score": 150, "seq": 1},
        headers=office,
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    try:
        yield LiveNode(base_url=base, tokens=tokens)
    finally:
        asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


SCHEMA = schemathesis.openapi.from_dict(build_document())
_ROLE_OF = {
    (r.method, r.path): None if r.roles is None else sorted(x.value for x in r.roles)[0]
    for r in ROUTES
}
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


#: The one 5xx that is an answer, not a failure: this node has no federation root pinned, and
#: the routes that need one say so with 503 ``federation_unavailable`` (documented).
_NO_FEDERATION = {"federation_root_submit", "federation_bundle", "verify"}


def _no_server_error(operation: str, response: requests.Response) -> None:
    if response.status_code < 500:
        return
    body = response.json()
    assert response.status_code == 503, (operation, response.status_code, body)
    assert operation in _NO_FEDERATION, (operation, body)
    assert body["error"] == "federation_unavailable", (operation, body)


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("operation", [r.name for r in ROUTES], ids=[r.name for r in ROUTES])
def test_schemathesis_finds_nothing(live_node: LiveNode, operation: str, mode: Any) -> None:
    found = SCHEMA.find_operation_by_id(operation)
    op = found.ok() if hasattr(found, "ok") else found
    route = op.definition.raw
    if mode == GenerationMode.NEGATIVE and not (
        route.get("parameters") or route.get("requestBody")
    ):
        pytest.skip("nothing to make invalid: no parameters and no body")
    role = _ROLE_OF[(op.method.upper(), op.path)]
    headers = {} if role is None else {"Authorization": f"Bearer {live_node.tokens[role]}"}
    session = requests.Session()

    @given(case=op.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
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
