"""Online verification for merchants (``merchant`` role): POST a presentation, get the verdict.

What it does: runs ``protocol.verifier.verify_presentation`` against this node's own signing
key and status lists (issue 6 swaps in the federation trust bundle) and answers with the
verdict: ``valid`` and what was disclosed, or ``valid: false`` with the protocol's error code.
What it deliberately does not do: decide incentive eligibility, or log the presentation.
"""

from __future__ import annotations

from aiohttp import web

from node import appkeys
from node.api._body import json_object, only, optional_string, string
from protocol.errors import ProtocolError
from protocol.jose import algorithm_for_key
from protocol.keys import StaticKeyResolver, TrustedKey
from protocol.verifier import VerifierPolicy, verify_presentation

MAX_PRESENTATION = VerifierPolicy().max_presentation_bytes


async def verify(request: web.Request) -> web.Response:
    """``POST /v1/verify``: ``{presentation, audience, nonce?}``."""
    app = request.app
    obj = await json_object(request)
    only(obj, "presentation", "audience", "nonce")
    presentation = string(obj, "presentation", max_len=MAX_PRESENTATION)
    audience = string(obj, "audience", max_len=256)
    nonce = optional_string(obj, "nonce", max_len=256)
    cfg, keys, scale = app[appkeys.CONFIG], app[appkeys.KEYS], app[appkeys.SCALE]
    now = app[appkeys.CLOCK]()
    resolver = StaticKeyResolver(
        [
            TrustedKey(
                issuer=cfg.issuer,
                city=cfg.city,
                kid=keys.signer.kid,
                alg=algorithm_for_key(keys.signer.public_key),
                public_key=keys.signer.public_key,
                scale_id=scale.id,
            )
        ]
    )
    try:
        verified = verify_presentation(
            presentation,
            keys=resolver,
            audience=audience,
            nonce=nonce,
            status=await app[appkeys.PUBLISHER].source(now),
            now=now,
            replay=app[appkeys.REPLAY],
        )
    except ProtocolError as err:
        return web.json_response({"valid": False, "error": err.code, "message": err.message})
    return web.json_response(
        {
            "valid": True,
            "error": None,
            "issuer": verified.issuer,
            "city": verified.city,
            "scale": {"id": verified.scale_id, "version": verified.scale_version},
            "level": verified.level,
            "level_at_least": sorted(verified.level_at_least),
            "band": list(verified.band) if verified.band else None,
            "expires_at": int(verified.expires_at.timestamp()),
        }
    )
