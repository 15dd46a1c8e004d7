"""Online verification for merchants (``merchant`` role): POST a presentation, get the verdict.

What it does: runs ``protocol.verifier.verify_presentation`` against this node's own keys
(current and previous) and, for every other member, the federation material the node synced and
verified (``node.federation``), with this node's own status lists and the cached, verified
status lists of every member. With ``incentive: "CITY/ID"`` it also decides eligibility three
ways with ``protocol.incentive.decide`` (the visitor's disclosure mapped onto the incentive
city's scale) and explains the decision in Chinese and English. An invalid presentation is an
answer (``valid: false`` with the protocol's error code), not an HTTP error.

What it deliberately does not do: any check of its own, or log the presentation.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Final

from aiohttp import web

from mapping.scale import Scale
from node import appkeys
from node.api._body import json_object, only, optional_string, string
from node.federation import CombinedStatus, FederationUnavailableError, OwnKeys
from node.merchant import error_text, split_ref
from protocol.errors import MalformedError, ProtocolError
from protocol.incentive import (
    Incentive,
    UnknownIncentiveError,
    decide,
    disclosed_by,
    parse_catalogue,
)
from protocol.jose import algorithm_for_key
from protocol.keys import TrustedKey
from protocol.verifier import VerifiedPresentation, VerifierPolicy, verify_presentation

MAX_PRESENTATION = VerifierPolicy().max_presentation_bytes


def _incentive(request: web.Request, ref: str) -> tuple[Incentive, Scale]:
    """The incentive ``CITY/ID`` and its city's scale, from our catalogue or a member's."""
    app = request.app
    cfg = app[appkeys.CONFIG]
    city, ident = split_ref(ref)
    if city == cfg.city:
        catalogue = app[appkeys.CATALOGUE].catalogue
        if catalogue is None:
            raise UnknownIncentiveError(f"{city} publishes no incentive catalogue")
        return catalogue.get(ident), app[appkeys.SCALE]
    fed = app[appkeys.FEDERATION]
    if fed is None:
        raise FederationUnavailableError("this node has no federation root pinned")
    now = app[appkeys.CLOCK]()
    scale = fed.scale(city, now)
    return parse_catalogue(fed.incentives(city, now), scale).get(ident), scale


def _holder_scale(request: web.Request, city: str) -> Scale:
    app = request.app
    if city == app[appkeys.CONFIG].city:
        return app[appkeys.SCALE]
    fed = app[appkeys.FEDERATION]
    if fed is None:  # pragma: no cover - a foreign issuer cannot verify without a federation
        raise FederationUnavailableError("this node has no federation root pinned")
    return fed.scale(city, app[appkeys.CLOCK]())


def _own_keys(app: web.Application, now: datetime) -> list[TrustedKey]:
    cfg, keys, scale = app[appkeys.CONFIG], app[appkeys.KEYS], app[appkeys.SCALE]
    current = TrustedKey(
        issuer=cfg.issuer,
        city=cfg.city,
        kid=keys.signer.kid,
        alg=algorithm_for_key(keys.signer.public_key),
        public_key=keys.signer.public_key,
        scale_id=scale.id,
    )
    return [current, *app[appkeys.OWN_MATERIAL].previous_keys(now)]


class KeyResolvers:
    """The key resolver of ``/v1/verify``, rebuilt at most every :data:`RESOLVER_TTL`.

    Building it means reading the node's previous keys (their certificates parsed from the key
    history) -- work that changes only when time moves a previous key out of use, so one
    resolver serves every request of the same second. A clock that moves back rebuilds it.
    """

    def __init__(self) -> None:
        self._resolver: OwnKeys | None = None
        self._valid: tuple[datetime, datetime] | None = None  # [built at, built at + TTL)

    def get(self, app: web.Application, now: datetime) -> OwnKeys:
        """The resolver for a request at ``now``."""
        valid = self._valid
        if self._resolver is None or valid is None or not valid[0] <= now < valid[1]:
            fed = app[appkeys.FEDERATION]
            self._resolver = OwnKeys(_own_keys(app, now), fed.keys if fed is not None else None)
            self._valid = (now, now + RESOLVER_TTL)
        return self._resolver


RESOLVER_TTL: Final = timedelta(seconds=1)
RESOLVERS: Final = web.AppKey("verify_key_resolvers", KeyResolvers)


def verdict(verified: VerifiedPresentation) -> dict[str, object]:
    """The answer for a valid presentation (before any incentive decision)."""
    return {
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


_JSON: Final = "application/json"


@lru_cache(maxsize=256)
def _verdict_head(issuer: str, city: str, scale_id: str, scale_version: str) -> str:
    # The issuer's part of a verdict repeats across presentations: serialize it once per issuer
    # and scale version. Same separators and escaping as json.dumps.
    return (
        f'{{"valid": true, "error": null, "issuer": {json.dumps(issuer)}, '
        f'"city": {json.dumps(city)}, '
        f'"scale": {{"id": {json.dumps(scale_id)}, "version": {json.dumps(scale_version)}}}, '
    )


def verdict_json(verified: VerifiedPresentation) -> bytes:
    """``json.dumps(verdict(verified))`` as UTF-8, byte for byte, without the general encoder:
    the issuer's part from :func:`_verdict_head`, the rest integers (format ``d``)."""
    head = _verdict_head(verified.issuer, verified.city, verified.scale_id, verified.scale_version)
    level, band = verified.level, verified.band
    at_least = ", ".join([f"{k:d}" for k in sorted(verified.level_at_least)])
    return (
        f'{head}"level": {"null" if level is None else f"{level:d}"}, '
        f'"level_at_least": [{at_least}], '
        f'"band": {f"[{band[0]:d}, {band[1]:d}]" if band else "null"}, '
        f'"expires_at": {int(verified.expires_at.timestamp()):d}}}'
    ).encode()


def _invalid(code: str, message: str, ref: str | None) -> web.Response:
    body: dict[str, object] = {"valid": False, "error": code, "message": message}
    if ref is not None:
        body.update(
            {"incentive": ref, "eligibility": None, "explanation": error_text(code).to_dict()}
        )
    return web.json_response(body)


async def verify(request: web.Request) -> web.Response:
    """``POST /v1/verify``: ``{presentation, audience, nonce?, incentive?}``."""
    app = request.app
    obj = await json_object(request)
    only(obj, "presentation", "audience", "nonce", "incentive")
    presentation = string(obj, "presentation", max_len=MAX_PRESENTATION)
    audience = string(obj, "audience", max_len=256)
    nonce = optional_string(obj, "nonce", max_len=256)
    ref = optional_string(obj, "incentive", max_len=200)
    incentive = _incentive(request, ref) if ref is not None else None
    now = app[appkeys.CLOCK]()
    fed = app[appkeys.FEDERATION]
    resolver = app[RESOLVERS].get(app, now)
    status = CombinedStatus(
        await app[appkeys.PUBLISHER].source(now), fed.status if fed is not None else None
    )
    try:
        verified = verify_presentation(
            presentation,
            keys=resolver,
            audience=audience,
            nonce=nonce,
            status=status,
            now=now,
            replay=app[appkeys.REPLAY],
        )
    except ProtocolError as err:
        return _invalid(err.code, err.message, ref)
    if incentive is None:
        return web.Response(body=verdict_json(verified), content_type=_JSON, charset="utf-8")
    body = verdict(verified)
    rule, local_scale = incentive
    disclosed, _ = disclosed_by(verified, _holder_scale(request, verified.city))
    try:
        decision = decide(rule, local_scale, disclosed, now)
    except MalformedError as err:
        return _invalid(err.code, err.message, ref)
    ask = decision.ask_for
    body.update(
        {
            "incentive": rule.ref,
            **decision.to_dict(),
            "ask_for": None
            if ask is None
            else {"level": ask.level, "level_at_least": ask.level_at_least, "band": ask.band},
        }
    )
    return web.json_response(body)
