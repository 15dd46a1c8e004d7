"""The trust bundle: verified offline from a pinned root, and a KeyResolver for verifiers."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from certs.bundle import BundlePolicy, TrustBundle, build_bundle, sign_material, verify_material
from certs.ca import Purpose, create_ca, issue_node_certificate
from certs.errors import (
    BadFileError,
    BadSignatureError,
    InvalidBundleError,
    KeyMismatchError,
    NotYetValidError,
    RollbackError,
    ThresholdNotMetError,
    UnknownMemberError,
    WrongFederationError,
    WrongIssuerError,
)
from certs.keys import key_jwk
from certs.root import Root, RootPolicy, verify_initial_root
from certs.update import Proposal, propose
from mapping.scale import builtin_scale
from protocol.attestation import CreditClaims, StatusRef, issue_attestation
from protocol.errors import UnknownKeyError, UntrustedIssuerError
from protocol.jose import KeySigner, b64u_decode, b64u_encode
from protocol.keys import KeyResolver
from protocol.presentation import DisclosureRequest, present
from protocol.status_list import StatusList, StatusListCache, sign_status_list_token
from protocol.verifier import verify_presentation
from tests.certs.sim import NOW, Federation, sign_root

ALL = ("zhengzhou", "hangzhou", "fuzhou", "nanjing", "wuhan")


@pytest.fixture(scope="module")
def fed() -> Federation:
    return Federation()


@pytest.fixture(scope="module")
def v1(fed: Federation) -> bytes:
    return sign_root(fed.root_v1(), fed.governance("zhengzhou", "hangzhou", "fuzhou"))


def _materials(fed: Federation) -> list[bytes]:
    return [fed[c].material() for c in ALL]


def _root(v1: bytes) -> Root:
    return verify_initial_root(v1).root


def test_build_load_and_resolve(fed: Federation, v1: bytes) -> None:
    data, built = build_bundle([v1], _materials(fed), now=NOW)
    bundle = TrustBundle.load(data, pinned_root=v1, now=NOW)
    resolver: KeyResolver = bundle
    city = fed["hangzhou"]
    key = resolver.resolve(city.issuer, city.node.kid, NOW + timedelta(days=1))
    assert key.city == "hangzhou"
    assert key.issuer == city.issuer
    assert key.kid == city.node.kid
    assert key.alg == "ES256"
    assert key.scale_id == "qianjiang"
    assert bundle.scale("fuzhou").id == "jasmine"
    assert bundle.incentives("wuhan") == {
        "city": "wuhan",
        "scale": "wuhan",
        "version": "1",
        "incentives": [],
    }
    assert bundle.status_list_uris("nanjing") == ("https://nanjing.huxin.example/status/1",)
    assert [m.city for m in bundle.members] == list(ALL)
    assert bundle.member("zhengzhou").name_zh == "郑州"
    assert built.root == bundle.root
    assert bundle.warnings == ()


def test_bundle_follows_root_rotation(fed: Federation, v1: bytes) -> None:
    new_ca_key = KeySigner.generate()
    new_ca = create_ca(new_ca_key.private_key, federation=fed.federation, city="wuhan", now=NOW)
    v2 = propose(_root(v1), Proposal(ca_certificates={"wuhan": new_ca}))
    v2_data = sign_root(v2, fed.governance("zhengzhou", "hangzhou", "fuzhou"))
    # Wuhan's old node certificate chains to the CA the root no longer lists.
    with pytest.raises(WrongIssuerError):
        build_bundle([v1, v2_data], _materials(fed), now=NOW)
    wuhan = fed["wuhan"]
    node = KeySigner.generate()
    cert = issue_node_certificate(
        new_ca_key.private_key, new_ca, node.public_key, purpose=Purpose.ATTESTATION, now=NOW
    )
    materials = [*_materials(fed)[:4], wuhan.material(keys=[(node, cert)])]
    data, _ = build_bundle([v1, v2_data], materials, now=NOW)
    bundle = TrustBundle.load(data, pinned_root=v1, now=NOW)
    assert bundle.root.version == 2
    assert bundle.resolve(wuhan.issuer, node.kid, NOW).city == "wuhan"


def test_node_certificate_of_the_wrong_city(fed: Federation, v1: bytes) -> None:
    # Hangzhou's material lists a key certified by Zhengzhou's CA.
    zz_cert = fed["zhengzhou"].node_cert
    bad = fed["hangzhou"].material(keys=[(fed["zhengzhou"].node, zz_cert)])
    with pytest.raises(WrongIssuerError, match="hangzhou") as info:
        verify_material(bad, _root(v1), now=NOW)
    assert info.value.code == "wrong_issuer"
    with pytest.raises(WrongIssuerError):
        build_bundle([v1], [*_materials(fed)[:1], bad, *_materials(fed)[2:]], now=NOW)


def test_expired_node_certificate(fed: Federation, v1: bytes) -> None:
    data, bundle = build_bundle([v1], _materials(fed), now=NOW)
    city = fed["fuzhou"]
    later = NOW + timedelta(days=31)
    with pytest.raises(UnknownKeyError, match="expired") as info:
        bundle.resolve(city.issuer, city.node.kid, later)
    assert info.value.code == "unknown_key"
    assert isinstance(info.value.__cause__, Exception)
    assert getattr(info.value.__cause__, "code", None) == "expired"
    # Loading at that time still works: the bundle holds the key, resolve refuses it.
    assert TrustBundle.load(data, pinned_root=v1, now=later).root.version == 1


def test_unknown_issuer_and_key(fed: Federation, v1: bytes) -> None:
    _, bundle = build_bundle([v1], _materials(fed), now=NOW)
    with pytest.raises(UntrustedIssuerError):
        bundle.resolve("https://evil.example", fed["wuhan"].node.kid, NOW)
    with pytest.raises(UnknownKeyError):
        bundle.resolve(fed["wuhan"].issuer, fed["hangzhou"].node.kid, NOW)
    with pytest.raises(UnknownMemberError):
        bundle.scale("suzhou")


def test_frozen_root_at_resolve_time(fed: Federation) -> None:
    root = fed.root_v1(expires=NOW + timedelta(days=10))
    v1 = sign_root(root, fed.governance("zhengzhou", "hangzhou", "fuzhou"))
    policy = BundlePolicy(root=RootPolicy(grace=timedelta(days=1)))
    _, bundle = build_bundle([v1], _materials(fed), now=NOW, policy=policy)
    city = fed["zhengzhou"]
    assert bundle.resolve(city.issuer, city.node.kid, NOW + timedelta(days=10, hours=12))
    with pytest.raises(UntrustedIssuerError, match="grace period of 1 day is over"):
        bundle.resolve(city.issuer, city.node.kid, NOW + timedelta(days=12))


def test_forged_and_rolled_back_roots_in_a_bundle(fed: Federation, v1: bytes) -> None:
    v2 = propose(_root(v1), Proposal(threshold=2))
    forged = sign_root(v2, fed.governance("zhengzhou", "hangzhou"))
    with pytest.raises(ThresholdNotMetError):
        build_bundle([v1, forged], _materials(fed), now=NOW)
    good = sign_root(v2, fed.governance("zhengzhou", "hangzhou", "fuzhou"))
    old_bundle, _ = build_bundle([v1], _materials(fed), now=NOW)
    with pytest.raises(RollbackError):
        TrustBundle.load(old_bundle, pinned_root=good, now=NOW)


def test_key_must_match_certificate(fed: Federation, v1: bytes) -> None:
    city = fed["nanjing"]
    doc = json.loads(city.material())
    payload = json.loads(b64u_decode(doc["payload"]))
    other = KeySigner.generate()
    payload["attestation_keys"][0]["jwk"] = key_jwk(other.public_key)
    doc["payload"] = b64u_encode(json.dumps(payload).encode())
    with pytest.raises(KeyMismatchError):
        verify_material(json.dumps(doc).encode(), _root(v1), now=NOW)


def test_material_signature_checks(fed: Federation, v1: bytes) -> None:
    city = fed["wuhan"]
    outsider = KeySigner.generate()
    with pytest.raises(InvalidBundleError, match="one of its attestation keys"):
        sign_material(
            outsider,
            federation=fed.federation,
            city="wuhan",
            attestation_keys=[(city.node.public_key, city.node_cert)],
            scale=builtin_scale("wuhan"),
            incentives={},
            status_lists=[],
            now=NOW,
        )
    doc = json.loads(city.material())
    doc["signatures"][0]["signature"] = doc["signatures"][0]["signature"][::-1]
    with pytest.raises(BadSignatureError):
        verify_material(json.dumps(doc).encode(), _root(v1), now=NOW)


def test_material_rules(fed: Federation, v1: bytes) -> None:
    root = _root(v1)
    city = fed["zhengzhou"]
    with pytest.raises(WrongFederationError):
        verify_material(city.material(federation="other"), root, now=NOW)
    with pytest.raises(NotYetValidError):
        verify_material(city.material(now=NOW + timedelta(days=1)), root, now=NOW)
    only_zhengzhou = replace(root, members=root.members[:1], threshold=1)
    with pytest.raises(UnknownMemberError):
        verify_material(fed["hangzhou"].material(), only_zhengzhou, now=NOW)


def test_scale_must_be_the_members(fed: Federation, v1: bytes) -> None:
    city = fed["zhengzhou"]
    data = sign_material(
        city.node,
        federation=fed.federation,
        city="zhengzhou",
        attestation_keys=[(city.node.public_key, city.node_cert)],
        scale=builtin_scale("qianjiang"),
        incentives={},
        status_lists=[],
        now=NOW,
    )
    with pytest.raises(InvalidBundleError, match="qianjiang"):
        verify_material(data, _root(v1), now=NOW)


def test_bundle_needs_every_member_once(fed: Federation, v1: bytes) -> None:
    with pytest.raises(InvalidBundleError, match="lacks the material of wuhan"):
        build_bundle([v1], _materials(fed)[:4], now=NOW)
    with pytest.raises(InvalidBundleError, match="two materials"):
        build_bundle([v1], [*_materials(fed), fed["wuhan"].material()], now=NOW)


def test_bad_bundle_files(fed: Federation, v1: bytes) -> None:
    data, _ = build_bundle([v1], _materials(fed), now=NOW)
    with pytest.raises(BadFileError, match="truncated"):
        TrustBundle.load(data[:-10], pinned_root=v1, now=NOW)
    doc = json.loads(data)
    doc["extra"] = True
    with pytest.raises(InvalidBundleError, match="exactly the fields"):
        TrustBundle.load(json.dumps(doc).encode(), pinned_root=v1, now=NOW)
    doc = json.loads(data)
    doc["federation"] = "other"
    with pytest.raises(WrongFederationError):
        TrustBundle.load(json.dumps(doc).encode(), pinned_root=v1, now=NOW)


def test_a_merchant_verifies_a_visitor_with_the_bundle(fed: Federation, v1: bytes) -> None:
    # End to end: Zhengzhou's node signs an attestation and a status list with the key its
    # CA certified; a merchant with only the bundle (and the cached list) verifies both.
    _, bundle = build_bundle([v1], _materials(fed), now=NOW)
    city = fed["zhengzhou"]
    uri = f"{city.issuer}/status/1"
    token = sign_status_list_token(
        city.node,
        issuer=city.issuer,
        uri=uri,
        status_list=StatusList.build(100, {}),
        now=NOW,
        lifetime=timedelta(days=1),
        ttl=timedelta(hours=1),
    )
    statuses = StatusListCache(bundle, frozenset({"ES256"}))
    statuses.put(uri, token, NOW)
    holder = KeySigner.generate()
    issued = issue_attestation(
        city.node,
        issuer=city.issuer,
        scale_id="shangding",
        scale_version=bundle.scale("zhengzhou").version,
        claims=CreditClaims(level=4),
        holder_jwk=holder.public_jwk,
        status=StatusRef(uri, 3),
        now=NOW,
    )
    shown = present(
        issued.sd_jwt,
        holder,
        request=DisclosureRequest(level=True),
        audience="https://shop.example",
        nonce="n-1",
        now=NOW,
    )
    verified = verify_presentation(
        shown, keys=bundle, audience="https://shop.example", nonce="n-1", status=statuses, now=NOW
    )
    assert verified.city == "zhengzhou"
    assert verified.level == 4
    # A node key the city's CA never certified is not trusted, whatever the issuer claims.
    rogue = issue_attestation(
        KeySigner.generate(),
        issuer=city.issuer,
        scale_id="shangding",
        scale_version="x",
        claims=CreditClaims(level=5),
        holder_jwk=holder.public_jwk,
        status=StatusRef(uri, 4),
        now=NOW,
    )
    shown = present(
        rogue.sd_jwt,
        holder,
        request=DisclosureRequest(level=True),
        audience="https://shop.example",
        nonce="n-2",
        now=NOW,
    )
    with pytest.raises(UnknownKeyError):
        verify_presentation(
            shown,
            keys=bundle,
            audience="https://shop.example",
            nonce="n-2",
            status=statuses,
            now=NOW,
        )


@pytest.mark.parametrize(
    ("catalogue", "match"),
    [
        ({"items": []}, "unknown fields"),
        ({"city": "zhengzhou", "scale": "qianjiang", "version": "1", "incentives": []}, "scale"),
        ({"city": "hangzhou", "scale": "shangding", "version": "1", "incentives": []}, "hangzhou"),
    ],
)
def test_incentive_catalogue_must_parse_and_be_the_members(
    fed: Federation, v1: bytes, catalogue: dict[str, object], match: str
) -> None:
    city = fed["zhengzhou"]
    data = sign_material(
        city.node,
        federation=fed.federation,
        city="zhengzhou",
        attestation_keys=[(city.node.public_key, city.node_cert)],
        scale=builtin_scale("shangding"),
        incentives=catalogue,
        status_lists=[],
        now=NOW,
    )
    with pytest.raises(InvalidBundleError, match=match):
        verify_material(data, _root(v1), now=NOW)
