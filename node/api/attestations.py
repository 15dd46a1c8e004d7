"""Issuance over HTTP (``app`` role): the city app asks for a batch for a signed-in resident.

What it does: ``POST /v1/attestations`` with ``{national_id, holder_keys: [JWK, ...]}`` returns
one SD-JWT per holder key. The response body is written directly (the tokens and thumbprints
are base64url text that JSON carries unescaped), not through ``json.dumps`` per token. What it
deliberately does not do: accept private keys or store the holder keys.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from aiohttp import web

from node import appkeys
from node.api._body import json_object, only, string
from node.issuance import issue, parse_holder_keys
from protocol.attestation import IssuedAttestation

#: What an SD-JWT (base64url segments, ``.`` and ``~``) and a thumbprint consist of: nothing
#: that JSON escapes.
_TOKEN_CHARS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"


async def request_batch(request: web.Request) -> web.Response:
    """``POST /v1/attestations``."""
    app = request.app
    obj = await json_object(request)
    only(obj, "national_id", "holder_keys")
    resident = app[appkeys.KEYS].hasher(string(obj, "national_id", max_len=64))
    holder_keys = parse_holder_keys(obj.get("holder_keys"), max_batch=app[appkeys.CONFIG].max_batch)
    issued = await issue(
        app[appkeys.ISSUER],
        resident=resident,
        holder_keys=holder_keys,
        actor=request[appkeys.PRINCIPAL].actor,
        now=app[appkeys.CLOCK](),
    )
    app[appkeys.METRICS].attestations.inc(len(issued))
    return web.Response(
        body=response_body(issued), content_type="application/json", charset="utf-8"
    )


def response_body(issued: Sequence[IssuedAttestation]) -> bytes:
    """The JSON body ``{"attestations": [{sd_jwt, holder_kid, status, issued_at, expires_at}]}``.

    Built as text: each distinct status URI is encoded once, and the tokens and thumbprints
    are checked (one ``bytes.translate`` over all of them) to need no JSON escaping; should one
    ever need it, the body is encoded by ``json.dumps`` instead.
    """
    plain = "".join(a.sd_jwt + a.holder_kid for a in issued).encode("ascii", "replace")
    if plain.translate(None, _TOKEN_CHARS):
        return json.dumps({"attestations": [_as_dict(a) for a in issued]}).encode("utf-8")
    uris: dict[str, str] = {}
    # A batch shares its times: each distinct (issued_at, expires_at) pair is formatted once.
    times: dict[tuple[datetime, datetime], str] = {}
    items = []
    for a in issued:
        uri = uris.get(a.status.uri)
        if uri is None:
            uri = uris[a.status.uri] = json.dumps(a.status.uri)
        span = times.get((a.issued_at, a.expires_at))
        if span is None:
            span = times[a.issued_at, a.expires_at] = (
                f'"issued_at":{int(a.issued_at.timestamp())},'
                f'"expires_at":{int(a.expires_at.timestamp())}}}'
            )
        items.append(
            f'{{"sd_jwt":"{a.sd_jwt}","holder_kid":"{a.holder_kid}",'
            f'"status":{{"uri":{uri},"idx":{int(a.status.idx)}}},{span}'
        )
    return ('{"attestations":[' + ",".join(items) + "]}").encode("utf-8")


def _as_dict(a: IssuedAttestation) -> dict[str, object]:
    return {
        "sd_jwt": a.sd_jwt,
        "holder_kid": a.holder_kid,
        "status": {"uri": a.status.uri, "idx": a.status.idx},
        "issued_at": int(a.issued_at.timestamp()),
        "expires_at": int(a.expires_at.timestamp()),
    }
