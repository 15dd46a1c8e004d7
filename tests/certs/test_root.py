"""Federation root verification, modelled on the TUF conformance suite's root-update cases.

Each test names the TUF rule it exercises (TUF specification 5.3 "Update the root role").
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jws as jwcrypto_jws

from certs.errors import (
    BadFileError,
    DuplicateKeyError,
    FrozenError,
    InvalidRootError,
    PayloadMismatchError,
    RollbackError,
    RootMismatchError,
    ThresholdNotMetError,
    TooLargeError,
    VersionSkippedError,
    WrongFederationError,
)
from certs.multisig import json_bytes_pretty, parse
from certs.root import (
    ROOT_JWS_TYP,
    RootPolicy,
    check_expiry,
    get_verification_result,
    parse_root_payload,
    parse_signed_root,
    verify_initial_root,
    verify_root_chain,
    verify_root_update,
)
from certs.update import Proposal, combine_signatures, propose, sign_proposal
from protocol.jose import KeySigner, b64u_encode
from tests.certs.sim import NOW, Federation, sign_root

ALL = ("zhengzhou", "hangzhou", "fuzhou", "nanjing", "wuhan")


@pytest.fixture(scope="module")
def fed() -> Federation:
    return Federation()


def test_initial_root_three_of_five(fed: Federation) -> None:
    root = fed.root_v1()
    data = sign_root(root, fed.governance("zhengzhou", "hangzhou", "fuzhou"))
    signed = verify_initial_root(data)
    assert signed.root.version == 1
    assert signed.root.threshold == 3
    assert [m.city for m in signed.root.members] == list(ALL)
    assert signed.root.member("nanjing").scale_id == "honest-card"


def test_result_object_reports_signed_unsigned_missing(fed: Federation) -> None:
    root = fed.root_v1()
    signed = parse_signed_root(sign_root(root, fed.governance("zhengzhou", "hangzhou")))
    result = get_verification_result(None, signed)
    assert not result.verified
    assert result.own.threshold == 3
    assert result.own.signers == {"zhengzhou", "hangzhou"}
    assert result.missing == {"fuzhou", "nanjing", "wuhan"}
    assert result.signed == {fed["zhengzhou"].governance.kid, fed["hangzhou"].governance.kid}
    assert fed["wuhan"].governance.kid in result.unsigned


def test_threshold_not_met(fed: Federation) -> None:
    data = sign_root(fed.root_v1(), fed.governance("zhengzhou", "hangzhou"))
    with pytest.raises(ThresholdNotMetError, match="2 of the required 3") as info:
        verify_initial_root(data)
    assert info.value.code == "threshold_not_met"


def test_one_key_counted_twice_counts_once(fed: Federation) -> None:
    # TUF: "a key must count once". Three signatures, two of them by the same key.
    zz = fed["zhengzhou"].governance
    data = sign_root(fed.root_v1(), [zz, zz, fed["hangzhou"].governance])
    assert len(parse_signed_root(data).jws.signatures) == 3
    with pytest.raises(ThresholdNotMetError):
        verify_initial_root(data)


def test_a_city_counts_once_whatever_its_number_of_keys(fed: Federation) -> None:
    root = fed.root_v1()
    extra = KeySigner.generate()
    v2 = propose(
        root,
        Proposal(
            governance_keys={
                "zhengzhou": (fed["zhengzhou"].governance.public_key, extra.public_key)
            }
        ),
    )
    data = sign_root(v2, [fed["zhengzhou"].governance, extra, fed["hangzhou"].governance])
    result = get_verification_result(root, parse_signed_root(data))
    assert len(result.own.signed) == 3
    assert result.own.signers == {"zhengzhou", "hangzhou"}
    assert not result.verified


def test_invalid_signature_does_not_count(fed: Federation) -> None:
    data = sign_root(fed.root_v1(), fed.governance("zhengzhou", "hangzhou", "fuzhou"))
    doc = json.loads(data)
    sig = doc["signatures"][2]["signature"]
    doc["signatures"][2]["signature"] = ("A" if sig[0] != "A" else "B") + sig[1:]
    tampered = json.dumps(doc).encode()
    result = get_verification_result(None, parse_signed_root(tampered))
    assert result.own.invalid == {fed["fuzhou"].governance.kid}
    with pytest.raises(ThresholdNotMetError):
        verify_initial_root(tampered)


def test_forged_payload_is_refused(fed: Federation) -> None:
    # Signatures copied onto an edited payload (threshold lowered to 1) no longer verify.
    root = fed.root_v1()
    data = json.loads(sign_root(root, fed.governance("zhengzhou", "hangzhou", "fuzhou")))
    forged_root = json.loads(root.payload())
    forged_root["threshold"] = 1
    data["payload"] = b64u_encode(json_bytes_pretty(forged_root))
    with pytest.raises(ThresholdNotMetError, match="0 of the required 1"):
        verify_initial_root(json.dumps(data).encode())


def _v1(fed: Federation) -> bytes:
    return sign_root(fed.root_v1(), fed.governance("zhengzhou", "hangzhou", "fuzhou"))


def test_key_rotation_needs_old_and_new_thresholds(fed: Federation) -> None:
    # TUF 5.3.4 + 5.3.5: v2 rotates Wuhan's key; signed by 3 old keys and the new key.
    v1 = verify_initial_root(_v1(fed)).root
    new_key = KeySigner.generate()
    v2 = propose(v1, Proposal(governance_keys={"wuhan": (new_key.public_key,)}))
    assert v2.version == 2
    good = sign_root(
        v2, [*fed.governance("zhengzhou", "hangzhou"), fed["wuhan"].governance, new_key]
    )
    assert verify_root_update(v1, good).root.member("wuhan").governance_keys[0].kid == new_key.kid
    # The new key and two others: v1 counts only Zhengzhou and Hangzhou (2 < 3).
    partial = sign_root(v2, [*fed.governance("zhengzhou", "hangzhou"), new_key])
    with pytest.raises(ThresholdNotMetError, match="members of v1"):
        verify_root_update(v1, partial)
    # The old Wuhan key counts for v1 but not for v2's own threshold.
    old_only = sign_root(v2, [*fed.governance("zhengzhou", "hangzhou"), fed["wuhan"].governance])
    with pytest.raises(ThresholdNotMetError, match="by its own members"):
        verify_root_update(v1, old_only)


def test_signature_by_removed_member_does_not_count_for_new_root(fed: Federation) -> None:
    v1 = verify_initial_root(_v1(fed)).root
    v2 = propose(v1, Proposal(remove=("wuhan",)))
    # Wuhan (removed) + two members: 3 for v1, only 2 for v2 itself.
    data = sign_root(v2, fed.governance("zhengzhou", "hangzhou", "wuhan"))
    result = get_verification_result(v1, parse_signed_root(data))
    assert result.trusted.verified
    assert result.own.signers == {"zhengzhou", "hangzhou"}
    assert fed["wuhan"].governance.kid in result.own.unknown
    with pytest.raises(ThresholdNotMetError, match="by its own members"):
        verify_root_update(v1, data)
    ok = sign_root(v2, fed.governance("zhengzhou", "hangzhou", "nanjing"))
    assert [m.city for m in verify_root_update(v1, ok).root.members] == list(ALL[:4])


def test_rollback_is_refused(fed: Federation) -> None:
    v1_data = _v1(fed)
    v1 = verify_initial_root(v1_data).root
    v2 = propose(v1, Proposal(threshold=4))
    v2_data = sign_root(v2, fed.governance(*ALL))
    trusted = verify_root_update(v1, v2_data).root
    with pytest.raises(RollbackError) as info:
        verify_root_update(trusted, v1_data)
    assert info.value.code == "rollback"
    with pytest.raises(RollbackError):  # the same version again is not an update either
        verify_root_update(trusted, v2_data)


def test_skipped_version_is_refused(fed: Federation) -> None:
    v1 = verify_initial_root(_v1(fed)).root
    v2 = propose(v1, Proposal(threshold=4))
    v3 = propose(v2, Proposal(threshold=2))
    data = sign_root(v3, fed.governance(*ALL))
    with pytest.raises(VersionSkippedError) as info:
        verify_root_update(v1, data)
    assert info.value.code == "version_skipped"


def test_frozen_root_after_grace_and_warning_inside(fed: Federation) -> None:
    root = fed.root_v1(expires=NOW + timedelta(days=1))
    policy = RootPolicy(grace=timedelta(days=3))
    assert check_expiry(root, NOW, policy=policy) == ()
    warnings = check_expiry(root, NOW + timedelta(days=2), policy=policy)
    assert len(warnings) == 1
    assert "grace period" in warnings[0]
    with pytest.raises(FrozenError) as info:
        check_expiry(root, NOW + timedelta(days=5), policy=policy)
    assert info.value.code == "frozen"
    data = sign_root(root, fed.governance("zhengzhou", "hangzhou", "fuzhou"))
    chain = verify_root_chain(data, [data], now=NOW + timedelta(days=2), policy=policy)
    assert chain.warnings == warnings
    with pytest.raises(FrozenError):
        verify_root_chain(data, [data], now=NOW + timedelta(days=5), policy=policy)


def test_only_the_newest_root_must_be_unexpired(fed: Federation) -> None:
    # TUF 5.3.10: intermediate roots may have expired; the chain ends at an unexpired one.
    v1 = fed.root_v1(expires=NOW + timedelta(days=1))
    v1_data = sign_root(v1, fed.governance("zhengzhou", "hangzhou", "fuzhou"))
    v2 = propose(v1, Proposal(expires=NOW + timedelta(days=400)))
    v2_data = sign_root(v2, fed.governance("zhengzhou", "hangzhou", "fuzhou"))
    later = NOW + timedelta(days=100)
    chain = verify_root_chain(v1_data, [v1_data, v2_data], now=later)
    assert chain.root.version == 2
    assert chain.warnings == ()


def test_root_mixing_two_federations_is_refused(fed: Federation) -> None:
    other = Federation("other-federation")
    # A root listing a member whose CA belongs to the other federation.
    root = json.loads(fed.root_v1().payload())
    root["members"][4] = other["wuhan"].entry().to_dict()
    with pytest.raises(WrongFederationError) as info:
        parse_root_payload(json.dumps(root).encode())
    assert info.value.code == "wrong_federation"
    assert "other-federation" in info.value.message
    # A root update that switches federation.
    v1 = verify_initial_root(_v1(fed)).root
    foreign = sign_root(other.root_v1(), other.governance(*ALL))
    doc = parse_signed_root(foreign).root
    assert doc.federation == "other-federation"
    with pytest.raises(WrongFederationError):
        verify_root_update(v1, foreign)
    # Signature files over the other federation's root cannot be combined into ours.
    proposal = propose(v1, Proposal(threshold=4)).payload()
    mine = sign_proposal(proposal, fed["zhengzhou"].governance)
    theirs = sign_proposal(other.root_v1().payload(), other["hangzhou"].governance)
    with pytest.raises(WrongFederationError):
        combine_signatures(proposal, [mine, theirs])


def test_combine_refuses_a_signature_over_another_proposal(fed: Federation) -> None:
    v1 = verify_initial_root(_v1(fed)).root
    a = propose(v1, Proposal(threshold=4)).payload()
    b = propose(v1, Proposal(threshold=2)).payload()
    with pytest.raises(PayloadMismatchError):
        combine_signatures(
            a,
            [
                sign_proposal(a, fed["zhengzhou"].governance),
                sign_proposal(b, fed["wuhan"].governance),
            ],
        )


def test_duplicate_governance_key_is_refused(fed: Federation) -> None:
    root = json.loads(fed.root_v1().payload())
    root["members"][1]["governance_keys"] = root["members"][0]["governance_keys"]
    with pytest.raises(DuplicateKeyError) as info:
        parse_root_payload(json.dumps(root).encode())
    assert info.value.code == "duplicate_key"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r.update(extra=1), "unknown fields"),
        (lambda r: r["members"][0].update(email="x"), "unknown fields"),
        (lambda r: r.update(threshold=6), "between 1 and"),
        (lambda r: r.update(threshold=0), "between 1 and"),
        (lambda r: r.update(threshold=True), "integer"),
        (lambda r: r.update(version=0), "version"),
        (lambda r: r.update(expires="2027-01-01"), "UTC time"),
        (lambda r: r.update(_type="huxin-bundle"), "not a huxin root"),
        (lambda r: r["members"].append(dict(r["members"][0])), "listed twice"),
        (lambda r: r["members"][0]["governance_keys"][0].update(kid="x"), "thumbprint"),
        (lambda r: r["members"][0].update(node_url="ftp://x"), "http"),
    ],
)
def test_invalid_root_documents(fed: Federation, edit: object, message: str) -> None:
    root = json.loads(fed.root_v1().payload())
    assert callable(edit)
    edit(root)
    with pytest.raises(InvalidRootError, match=message):
        parse_root_payload(json.dumps(root).encode())


def test_limits_come_from_policy(fed: Federation) -> None:
    payload = fed.root_v1().payload()
    with pytest.raises(TooLargeError):
        parse_root_payload(payload, policy=RootPolicy(max_members=4))
    with pytest.raises(TooLargeError):
        parse_root_payload(payload, policy=RootPolicy(max_bytes=100))


def test_truncated_root_file_is_a_bad_file(fed: Federation) -> None:
    data = _v1(fed)
    with pytest.raises(BadFileError, match="truncated") as info:
        parse_signed_root(data[: len(data) // 2])
    assert info.value.code == "bad_file"


def test_unprotected_header_and_foreign_typ_are_refused(fed: Federation) -> None:
    doc = json.loads(_v1(fed))
    doc["signatures"][0]["header"] = {"kid": "x"}
    with pytest.raises(BadFileError, match="only 'protected' and 'signature'"):
        parse_signed_root(json.dumps(doc).encode())
    with pytest.raises(BadFileError, match="expected 'huxin-material"):
        parse(_v1(fed), typ="huxin-material+json", max_bytes=10**6, max_signatures=10)


def test_chain_from_pinned_root(fed: Federation) -> None:
    v1_data = _v1(fed)
    v1 = verify_initial_root(v1_data).root
    v2 = propose(v1, Proposal(threshold=4))
    v2_data = sign_root(v2, fed.governance(*ALL[:4]))
    v3 = propose(v2, Proposal(remove=("wuhan",), threshold=3))
    v3_data = sign_root(v3, fed.governance(*ALL[:4]))
    chain = verify_root_chain(v1_data, [v3_data, v1_data, v2_data], now=NOW)
    assert [r.root.version for r in chain.roots] == [1, 2, 3]
    assert len(chain.root.members) == 4
    # Pinned at v2: v1 is ignored, v3 verified from v2.
    assert verify_root_chain(v2_data, [v1_data, v2_data, v3_data], now=NOW).root.version == 3
    with pytest.raises(VersionSkippedError):
        verify_root_chain(v1_data, [v1_data, v3_data], now=NOW)
    with pytest.raises(RollbackError):
        verify_root_chain(v3_data, [v1_data, v2_data], now=NOW)
    fork = sign_root(propose(v1, Proposal(threshold=2)), fed.governance(*ALL))
    with pytest.raises(RootMismatchError):
        verify_root_chain(v2_data, [fork, v3_data], now=NOW)


def test_multisignature_root_verifies_with_jwcrypto(fed: Federation) -> None:
    # Interop: an independent JOSE library reads the general JSON serialization and verifies
    # every signature with the member's published JWK.
    signers = fed.governance("zhengzhou", "hangzhou", "fuzhou")
    data = sign_root(fed.root_v1(), signers)
    token = jwcrypto_jws.JWS()
    token.deserialize(data.decode())
    headers = token.jose_header
    assert isinstance(headers, list)
    assert [h["kid"] for h in headers] == [s.kid for s in signers]
    assert all(h["typ"] == ROOT_JWS_TYP for h in headers)
    for signer in signers:
        key = jwcrypto_jwk.JWK(**signer.public_jwk)
        assert key.thumbprint() == signer.kid
        token.verify(key)
    assert json.loads(token.payload)["_type"] == "huxin-root"
    with pytest.raises(jwcrypto_jws.InvalidJWSSignature):
        token.verify(jwcrypto_jwk.JWK(**fed["wuhan"].governance.public_jwk))


def test_eddsa_governance_keys(fed: Federation) -> None:
    ed = KeySigner.generate("EdDSA")
    v1 = verify_initial_root(_v1(fed)).root
    v2 = propose(v1, Proposal(governance_keys={"nanjing": (ed.public_key,)}))
    data = sign_root(v2, [*fed.governance("zhengzhou", "hangzhou", "fuzhou"), ed])
    result = get_verification_result(v1, parse_signed_root(data))
    assert "nanjing" in result.own.signers
    assert verify_root_update(v1, data).root.version == 2


def test_copies_of_one_version_pool_their_signatures(fed: Federation) -> None:
    root = fed.root_v1()
    v1 = sign_root(root, fed.governance("zhengzhou", "hangzhou", "fuzhou"))
    v2 = propose(root, Proposal(threshold=2))
    first = sign_root(v2, fed.governance("zhengzhou"))
    second = sign_root(v2, fed.governance("hangzhou", "fuzhou"))
    chain = verify_root_chain(v1, [first, second], now=NOW)
    assert chain.root.version == 2
    assert len(chain.roots[1].jws.signatures) == 3
