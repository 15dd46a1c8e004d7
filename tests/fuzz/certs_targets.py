"""Fuzz targets in ``certs``: federation roots, multisig, member material, bundles, keys.

A five-city federation (``tests/certs/sim.py``) signs versions 1 and 2 of its root; three of
its cities make the trust bundle (a five-city bundle costs ~10 ms a case). Mutations work on
the general-JSON JWS (outer JSON, payload, signatures) and on the certificates inside payloads
(DER mutations in PEM), and re-sign with the legitimate keys where a legitimate signer doing
something odd must still not crash the parser.

What it deliberately does not do: write files or read the clock (``now`` is fixed).
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from cryptography import x509

from certs.bundle import TrustBundle, build_bundle, verify_material
from certs.ca import Purpose
from certs.chain import check_ca_certificate, verify_node_certificate
from certs.errors import CertsError, ThresholdNotMetError
from certs.keys import (
    certificate_pem,
    certificate_public_key,
    key_jwk,
    load_certificate,
    load_private_key,
    load_public_key,
    parse_key_jwk,
    private_key_pem,
    public_key_pem,
)
from certs.multisig import combine, count_signatures, parse, sign
from certs.root import (
    ROOT_JWS_TYP,
    Root,
    verify_initial_root,
    verify_root_chain,
    verify_root_update,
)
from certs.update import Proposal, initial_root, propose
from protocol.jose import (
    KeySigner,
    b64u_encode,
    key_thumbprint,
)
from tests.certs.sim import FEDERATION, Federation, sign_root
from tests.certs.sim import NOW as CERTS_NOW
from tests.fuzz.framework import (
    Case,
    Seed,
    Target,
    lenient_json,
    loose_json_bytes,
    pick,
)
from tests.fuzz.mutate import (
    encode_json,
    materialize,
    mutate_bytes,
    mutate_json,
    mutate_jws,
    mutate_pem,
    random_bytes,
    random_json,
    random_text,
)


@dataclass(frozen=True)
class _CertsWorld:
    federation: Federation
    v1: bytes
    v2: bytes
    root1: Root
    small_root: bytes
    small_cities: tuple[str, ...]
    bundle: bytes
    materials: Mapping[str, bytes]


@cache
def certs_world() -> _CertsWorld:
    fed = Federation()
    root1 = fed.root_v1(threshold=3)
    every = tuple(fed.cities)
    v1 = sign_root(root1, fed.governance(*every))
    v2 = sign_root(propose(root1, Proposal(threshold=4)), fed.governance(*every))
    # A three-city federation for bundles (a five-city bundle takes ~10 ms a case to verify).
    small = every[:3]
    small_v1 = initial_root(
        federation=FEDERATION,
        members=[fed[c].entry() for c in small],
        threshold=2,
        expires=CERTS_NOW + timedelta(days=365),
    )
    small_root = sign_root(small_v1, fed.governance(*small))
    materials = {c: fed[c].material() for c in every}
    bundle, _ = build_bundle(
        [small_root], [materials[c] for c in small], now=CERTS_NOW, pinned_root=small_root
    )
    return _CertsWorld(
        fed, v1, v2, verify_initial_root(v1).root, small_root, small, bundle, materials
    )


def _pretty(obj: object) -> bytes:
    """Indented JSON like the signed files."""
    return loose_json_bytes(obj, indent=2)


def _payload_of(doc: object) -> bytes | None:
    if isinstance(doc, dict) and isinstance(doc.get("payload"), str):
        payload = doc["payload"]
        try:
            return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        except ValueError:
            return None
    return None


def _general_jws_mutation(
    rng: random.Random,
    seed: Seed,
    signers: Sequence[KeySigner],
    typ: str,
    pem_paths: Callable[[dict[str, object]], list[tuple[dict[str, object], str]]],
) -> Case:
    """Mutations of a JWS in general JSON form (roots, material)."""
    data = seed.data
    assert isinstance(data, bytes)
    doc = lenient_json(data)
    if not isinstance(doc, dict):
        return Case(seed, mutate_bytes(rng, data), "bytes")
    payload = lenient_json(_payload_of(doc))

    def resigned(new_payload: bytes, who: Sequence[KeySigner]) -> bytes:
        docs = [sign(new_payload, s, typ=typ) for s in who]
        return combine(docs).to_bytes()

    def payload_level(resign: bool) -> Case:
        if not isinstance(payload, dict):
            return Case(seed, mutate_bytes(rng, data), "bytes")
        new = encode_json(mutate_json(rng, payload), rng)
        if resign:
            return Case(seed, resigned(new, signers), "payload-resigned", "issuer")
        return Case(seed, _pretty({**doc, "payload": b64u_encode(new)}), "payload")

    def certificate(resign: bool) -> Case:
        if not isinstance(payload, dict):
            return Case(seed, mutate_bytes(rng, data), "bytes")
        spots = pem_paths(payload)
        if not spots:
            return payload_level(resign)
        holder, key = rng.choice(spots)
        pem = holder[key]
        holder[key] = mutate_pem(rng, pem) if isinstance(pem, str) else random_text(rng, 100)
        new = _pretty(payload)
        if resign:
            return Case(seed, resigned(new, signers), "certificate-resigned", "issuer")
        return Case(seed, _pretty({**doc, "payload": b64u_encode(new)}), "certificate")

    def signatures() -> Case:
        entries = doc.get("signatures")
        if not isinstance(entries, list) or not entries:
            return Case(seed, mutate_bytes(rng, data), "bytes")
        entries = list(entries)
        op = rng.randrange(4)
        i = rng.randrange(len(entries))
        if op == 0:
            del entries[i]
        elif op == 1:
            entries.append(entries[i])
        elif op == 2:
            entry = dict(entries[i]) if isinstance(entries[i], dict) else {}
            protected = entry.get("protected")
            if isinstance(protected, str):
                entry["protected"] = mutate_jws(rng, f"{protected}.e30.AA").split(".")[0]
            entries[i] = entry
        else:
            entries[i] = mutate_json(rng, entries[i], raw=False)
        return Case(seed, encode_json({**doc, "signatures": entries}, rng), "signatures")

    def noop() -> Case:
        items = list(doc.items())
        rng.shuffle(items)
        return Case(seed, loose_json_bytes(dict(items), indent=rng.choice((None, 1, 4))), "noop")

    ops: list[tuple[str, Callable[[], Case]]] = [
        ("bytes", lambda: Case(seed, mutate_bytes(rng, data), "bytes")),
        ("outer-json", lambda: Case(seed, encode_json(mutate_json(rng, doc), rng), "outer-json")),
        ("payload", lambda: payload_level(False)),
        ("payload-resigned", lambda: payload_level(True)),
        ("certificate", lambda: certificate(False)),
        ("certificate-resigned", lambda: certificate(True)),
        ("signatures", signatures),
        ("noop", noop),
    ]
    return pick(rng, ops)


def _member_pems(payload: dict[str, object]) -> list[tuple[dict[str, object], str]]:
    members = payload.get("members")
    if not isinstance(members, list):
        return []
    return [(m, "ca_certificate") for m in members if isinstance(m, dict) and "ca_certificate" in m]


def _material_pems(payload: dict[str, object]) -> list[tuple[dict[str, object], str]]:
    keys = payload.get("attestation_keys")
    if not isinstance(keys, list):
        return []
    return [(k, "certificate") for k in keys if isinstance(k, dict) and "certificate" in k]


class RootTarget(Target):
    """``certs.root``: ``verify_initial_root``, ``verify_root_update`` and ``verify_root_chain``
    (each parses with ``parse_signed_root`` and counts signatures with ``certs.multisig``)."""

    name = "root"
    description = "federation roots: parse_signed_root, verify_root_update, verify_root_chain"
    errors = (CertsError,)
    signed = True

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        cw = certs_world()
        return (("initial", cw.v1), ("update", cw.v2), ("chain", cw.v2))

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, bytes)
        cw = certs_world()
        if seed.label == "initial":
            root = verify_initial_root(data).root
        elif seed.label == "update":
            root = verify_root_update(cw.root1, data).root
        else:
            root = verify_root_chain(cw.v1, [data], now=CERTS_NOW).root
        return root.to_dict()

    def signed_content(self, seed: Seed, data: object) -> object:
        return _payload_of(lenient_json(data))

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        fed = certs_world().federation
        signers = fed.governance(*fed.cities)
        return _general_jws_mutation(rng, seed, signers, ROOT_JWS_TYP, _member_pems)


class MultisigTarget(Target):
    """``certs.multisig.parse`` and ``count_signatures`` (a root's 3-of-5 threshold)."""

    name = "multisig"
    description = "multisig: JWS general JSON parse + count_signatures"
    errors = (CertsError,)
    signed = True

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        return (("root", certs_world().v1),)

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, bytes)
        cw = certs_world()
        jws = parse(data, typ=ROOT_JWS_TYP, max_bytes=1 << 20, max_signatures=256)
        count = count_signatures(jws, cw.root1.governance_keys(), threshold=3)
        if not count.verified:
            raise ThresholdNotMetError(f"{len(count.signers)} of 3")
        return jws.payload

    def signed_content(self, seed: Seed, data: object) -> object:
        return _payload_of(lenient_json(data))

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        fed = certs_world().federation
        return _general_jws_mutation(
            rng, seed, fed.governance(*fed.cities), ROOT_JWS_TYP, _member_pems
        )


def _material_summary(m: object) -> tuple[object, ...]:
    from certs.bundle import MemberMaterial

    assert isinstance(m, MemberMaterial)
    return (
        m.city,
        m.issued_at,
        tuple(k.kid for k in m.attestation_keys),
        m.scale,
        json.dumps(dict(m.incentives), sort_keys=True),
        m.status_lists,
    )


class MaterialTarget(Target):
    """``certs.bundle.verify_material``: a member's signed keys, scale and catalogue."""

    name = "material"
    description = "verify_material: a member's signed material"
    errors = (CertsError,)
    signed = True

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        return tuple((city, data) for city, data in certs_world().materials.items())

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, bytes)
        return _material_summary(verify_material(data, certs_world().root1, now=CERTS_NOW))

    def signed_content(self, seed: Seed, data: object) -> object:
        return _payload_of(lenient_json(data))

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        node = certs_world().federation[seed.label].node
        return _general_jws_mutation(rng, seed, [node], "huxin-material+json", _material_pems)


class BundleTarget(Target):
    """``certs.bundle.TrustBundle.load``: the merchant's whole trust bundle."""

    name = "bundle"
    description = "TrustBundle.load: root chain + every member's material"
    errors = (CertsError,)
    signed = True

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        return (("bundle", certs_world().bundle),)

    def call(self, seed: Seed, data: object) -> object:
        assert isinstance(data, bytes)
        cw = certs_world()
        bundle = TrustBundle.load(data, pinned_root=cw.small_root, now=CERTS_NOW)
        return (
            bundle.root.to_dict(),
            tuple(_material_summary(bundle.material(c)) for c in cw.small_cities),
        )

    def noops(self, seed: Seed) -> list[object]:
        doc = lenient_json(seed.data)
        assert isinstance(doc, dict)
        materials = doc["materials"]
        assert isinstance(materials, list)
        return [
            *super().noops(seed),
            json.dumps({**doc, "roots": []}).encode(),  # the pinned root alone
            json.dumps({**doc, "materials": materials[::-1]}).encode(),
        ]

    def signed_content(self, seed: Seed, data: object) -> object:
        doc = lenient_json(data)
        if not isinstance(doc, dict):
            return None
        roots, materials = doc.get("roots"), doc.get("materials")
        if not isinstance(roots, list) or not isinstance(materials, list):
            return None
        # The pinned root is trusted whether or not the bundle repeats it.
        pinned = _payload_of(lenient_json(certs_world().small_root))
        return (
            frozenset(_payload_of(r) for r in roots) | {pinned},
            frozenset(_payload_of(m) for m in materials),
        )

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        data = seed.data
        assert isinstance(data, bytes)
        cw = certs_world()
        doc = lenient_json(data)
        if not isinstance(doc, dict) or not all(
            isinstance(doc.get(k), list) and doc.get(k) for k in ("roots", "materials")
        ):
            return Case(seed, mutate_bytes(rng, data), "bytes")

        def inner(kind: str) -> Case:
            items = doc[kind]
            assert isinstance(items, list)
            i = rng.randrange(len(items))
            if kind == "roots":
                fed = cw.federation
                signers = fed.governance(*cw.small_cities)
                pems = _member_pems
                typ = ROOT_JWS_TYP
            else:
                material = items[i]
                payload = lenient_json(_payload_of(material))
                city = payload.get("city") if isinstance(payload, dict) else None
                signers = [cw.federation[city if isinstance(city, str) else "zhengzhou"].node]
                pems = _material_pems
                typ = "huxin-material+json"
            probe = Seed(kind, loose_json_bytes(items[i]))
            case = _general_jws_mutation(rng, probe, signers, typ, pems)
            new_item = lenient_json(case.data)
            if new_item is None:
                return Case(seed, mutate_bytes(rng, data), "bytes")
            new_items = list(items)
            new_items[i] = new_item
            return Case(
                seed,
                loose_json_bytes({**doc, kind: new_items}),
                f"{kind}:{case.mutation}",
                case.trust,
            )

        def lists() -> Case:
            kind = rng.choice(("roots", "materials"))
            items = doc[kind]
            assert isinstance(items, list)
            new_items = list(items)
            op = rng.randrange(3)
            if op == 0:
                del new_items[rng.randrange(len(new_items))]
            elif op == 1:
                new_items.append(rng.choice(items))
            else:
                rng.shuffle(new_items)
            return Case(seed, loose_json_bytes({**doc, kind: new_items}), f"{kind}-list")

        ops: list[tuple[str, Callable[[], Case]]] = [
            ("bytes", lambda: Case(seed, mutate_bytes(rng, data), "bytes")),
            ("json", lambda: Case(seed, encode_json(mutate_json(rng, doc), rng), "json")),
            ("noop", lambda: Case(seed, rng.choice(self.noops(seed)), "noop")),
            ("roots", lambda: inner("roots")),
            ("materials", lambda: inner("materials")),
            ("materials", lambda: inner("materials")),
            ("lists", lists),
            ("noop", lambda: Case(seed, loose_json_bytes(doc), "noop")),
        ]
        return pick(rng, ops)


@dataclass(frozen=True)
class _KeysWorld:
    ca: x509.Certificate
    node_pem: bytes


class KeysTarget(Target):
    """``certs.keys``: PEM certificates (checked as a city CA or a node certificate), PEM public
    and private keys, published JWKs."""

    name = "keys"
    description = "certs.keys: load_certificate (+ CA/node checks), PEM keys, parse_key_jwk"
    errors = (CertsError,)

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        city = certs_world().federation["zhengzhou"]
        ed = KeySigner.generate("EdDSA")
        return (
            ("ca", certificate_pem(city.ca_cert).encode()),
            ("node", certificate_pem(city.node_cert).encode()),
            ("public", public_key_pem(city.node.public_key)),
            ("public", public_key_pem(ed.public_key)),
            ("private", private_key_pem(city.governance.private_key)),
            ("private", private_key_pem(ed.private_key)),
            ("jwk", key_jwk(city.node.public_key)),
            ("jwk", key_jwk(ed.public_key)),
        )

    def call(self, seed: Seed, data: object) -> object:
        city = certs_world().federation["zhengzhou"]
        if seed.label == "jwk":
            jwk, _ = parse_key_jwk(data)
            return tuple(sorted(jwk.items()))
        assert isinstance(data, bytes)
        if seed.label == "public":
            return key_thumbprint(load_public_key(data))
        if seed.label == "private":
            return key_thumbprint(load_private_key(data).public_key())
        cert = load_certificate(data)
        if seed.label == "ca":
            check_ca_certificate(cert, federation=FEDERATION, city="zhengzhou", now=CERTS_NOW)
            key_thumbprint(certificate_public_key(cert))
        else:
            verify_node_certificate(cert, city.ca_cert, purpose=Purpose.ATTESTATION, now=CERTS_NOW)
        return cert.tbs_certificate_bytes

    def noops(self, seed: Seed) -> list[object]:
        if isinstance(seed.data, bytes):
            return [seed.data + b"\n", seed.data.replace(b"\n", b"\r\n")]
        return super().noops(seed)

    def judge(self, case: Case, summary: object) -> str | None:
        # Certificates are signed: an accepted mutation must carry the original TBS.
        if case.seed.label in ("ca", "node") and summary != case.seed.expected:
            return "a certificate with another TBS passed its signature check"
        return None

    def arbitrary(self, rng: random.Random) -> Case:
        seed = rng.choice(self.seeds())
        if seed.label == "jwk":
            value = materialize(random_json(rng))
            return Case(seed, value, "arbitrary", arbitrary=True)
        body = base64.b64encode(random_bytes(rng, 600)).decode()
        kind = rng.choice(("CERTIFICATE", "PUBLIC KEY", "PRIVATE KEY", "EC PRIVATE KEY"))
        pem = f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n".encode()
        return Case(seed, rng.choice((pem, random_bytes(rng))), "arbitrary", arbitrary=True)

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        if seed.label == "jwk":
            return Case(seed, materialize(mutate_json(rng, seed.data)), "json")
        data = seed.data
        assert isinstance(data, bytes)
        if rng.random() < 0.7:
            return Case(
                seed, mutate_pem(rng, data.decode("latin-1")).encode("latin-1", "replace"), "der"
            )
        return Case(seed, mutate_bytes(rng, data), "bytes")
