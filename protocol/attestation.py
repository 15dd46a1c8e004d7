"""Issuer side: build and sign huxin credit attestations as SD-JWT VCs (RFC 9901).

What it does: turns a resident's federation level (and optionally a band of the issuer's scale)
into an SD-JWT with header ``typ: dc+sd-jwt`` whose issuer-signed payload carries ``iss``,
``iat``, ``exp``, ``vct``, ``cnf.jwk`` (the holder's key), ``status`` (Token Status List
reference), ``scale`` and ``_sd`` (``_sd_alg`` is omitted: RFC 9901 section 4.1.1 makes its
absence mean ``sha-256``). Selectively disclosable: ``level``, the true ``level_at_least_k``
booleans (``k`` = 2..level; "at least 1" holds for every attested resident, so it carries no
information and has no slot) and ``band``. The false booleans are replaced by decoy digests, so
every attestation of an issuer carries the same number of digests whatever the level; ``_sd`` is
sorted so order reveals nothing. Batch issuance signs N attestations for N holder keys with
independent salts and status indexes, and ``iat`` is rounded down to the hour, so presentations
from one batch share nothing a merchant could join on (privacy invariant 3).

Batches are built for speed (issue 5: issuance near the raw signing rate): the header, the
shared part of the payload and the constant part of each Disclosure are encoded once per batch,
all salts come from one ``os.urandom`` call, holder keys are checked arithmetically in one
base64 pass, and the signatures are made back to back. The output is byte-for-byte what the
plain construction (``build_disclosures`` + ``sign_jws``) gives with the same salts
(``tests/protocol/test_issuance_fast_path.py``).

What it deliberately does not do: carry a name, ID number, exact score or any stable subject
identifier (DESIGN.md "Attestation content"); allocate status indexes or keep records (the node
does); read the clock (``now`` is passed in). Salts come from the operating system's CSPRNG
(``os.urandom``, as ``secrets`` does) unless a deterministic source is injected for test
vectors.
"""

from __future__ import annotations

import binascii
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from protocol.errors import IssuanceError, MalformedError
from protocol.jose import (
    Signer,
    b64u_encode,
    check_public_jwk,
    check_public_jwks,
    json_bytes,
    json_text,
)
from protocol.sdjwt import (
    SALT_BYTES,
    Disclosure,
    JsonValue,
    SaltSource,
    decoy_digest,
    make_disclosure,
    random_salt,
)

VCT: Final = "urn:huxin:credit-level:1"
DEFAULT_LIFETIME: Final = timedelta(hours=24)
#: ``iat`` is rounded down to this step so that attestations issued in the same hour (a whole
#: batch, and everyone else's) share it: a timestamp to the second would let a merchant join
#: two presentations from one batch.
DEFAULT_TIME_GRANULARITY: Final = timedelta(hours=1)
#: The JOSE ``typ`` of an issued attestation (SD-JWT VC).
ATTESTATION_TYP: Final = "dc+sd-jwt"
MIN_LEVEL: Final = 1
MAX_LEVEL: Final = 5
#: The lowest ``k`` with a ``level_at_least_k`` slot: "at least 1" is true for every attestation.
MIN_AT_LEAST: Final = 2
LEVEL_CLAIM: Final = "level"
BAND_CLAIM: Final = "band"


_JWK_MEMBERS: Final = ("kty", "crv", "x", "y")


def at_least_claim(k: int) -> str:
    """The claim name of the boolean "level is at least ``k``"."""
    return f"level_at_least_{k}"


#: Every claim name an attestation may disclose.
DISCLOSABLE_CLAIMS: Final = frozenset(
    {LEVEL_CLAIM, BAND_CLAIM, *(at_least_claim(k) for k in range(MIN_AT_LEAST, MAX_LEVEL + 1))}
)


@dataclass(frozen=True)
class StatusRef:
    """Where the attestation's status lives: a Token Status List ``uri`` and an index ``idx``."""

    uri: str
    idx: int


@dataclass(frozen=True)
class CreditClaims:
    """What an attestation says about its holder.

    Attributes:
        level: the federation level, 1..5.
        band: an inclusive score band ``(low, high)`` of the issuer's scale, or ``None``.
    """

    level: int
    band: tuple[int, int] | None = None


@dataclass(frozen=True)
class IssuedAttestation:
    """A signed attestation ready for the holder's wallet.

    Attributes:
        sd_jwt: ``<issuer-jwt>~<disclosure>~...~`` (no key binding).
        holder_kid: RFC 7638 thumbprint of the holder key in ``cnf.jwk``.
        status: the status list reference it carries.
        issued_at: ``iat``.
        expires_at: ``exp``.
    """

    sd_jwt: str
    holder_kid: str
    status: StatusRef
    issued_at: datetime
    expires_at: datetime


def _check_inputs(
    claims: CreditClaims, status: StatusRef, now: datetime, lifetime: timedelta
) -> None:
    if type(claims.level) is not int or not MIN_LEVEL <= claims.level <= MAX_LEVEL:
        raise IssuanceError(f"level must be an integer {MIN_LEVEL}..{MAX_LEVEL}")
    if claims.band is not None:
        low, high = claims.band
        if type(low) is not int or type(high) is not int or low > high:
            raise IssuanceError("band must be two integers low <= high")
    _check_status(status)
    if now.tzinfo is None or now.utcoffset() is None:
        raise IssuanceError("now must be timezone-aware")
    if lifetime <= timedelta(0):
        raise IssuanceError("lifetime must be positive")


_BAD_STATUS: Final = "status needs a uri and a non-negative integer idx"


def _check_status(status: StatusRef) -> None:
    if type(status.idx) is not int or status.idx < 0 or not status.uri:
        raise IssuanceError(_BAD_STATUS)


def build_disclosures(
    claims: CreditClaims, salts: SaltSource
) -> tuple[list[Disclosure], list[str]]:
    """The Disclosures of ``claims`` and the full, sorted ``_sd`` digest list (with decoys).

    Salts are drawn in a fixed order (level, k = 2..5, band) so that an injected deterministic
    source gives reproducible output.
    """
    disclosures = [make_disclosure(LEVEL_CLAIM, claims.level, salts())]
    digests = [disclosures[0].digest]
    for k in range(MIN_AT_LEAST, MAX_LEVEL + 1):
        if k <= claims.level:
            d = make_disclosure(at_least_claim(k), True, salts())
            disclosures.append(d)
            digests.append(d.digest)
        else:
            digests.append(decoy_digest(salts()))
    if claims.band is not None:
        d = make_disclosure(BAND_CLAIM, [claims.band[0], claims.band[1]], salts())
        disclosures.append(d)
        digests.append(d.digest)
    return disclosures, sorted(digests)


def issue_attestation(
    signer: Signer,
    *,
    issuer: str,
    scale_id: str,
    scale_version: str,
    claims: CreditClaims,
    holder_jwk: Mapping[str, str],
    status: StatusRef,
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
    salts: SaltSource = random_salt,
    time_granularity: timedelta = DEFAULT_TIME_GRANULARITY,
) -> IssuedAttestation:
    """Sign one attestation bound to ``holder_jwk``.

    Args:
        signer: the issuer's attestation-signing key (ES256 default, EdDSA supported).
        issuer: the ``iss`` recorded for this city in the federation root.
        scale_id: the issuer's scale id (e.g. ``shangding``).
        scale_version: the version of that scale's definition.
        claims: level and optional band.
        holder_jwk: the holder's public JWK (P-256 or Ed25519); only its public members are kept.
        status: the status list reference allocated for this attestation.
        now: issuance time (tz-aware).
        lifetime: ``exp - iat``.
        salts: 128-bit salt source; defaults to :func:`secrets.token_bytes`.
        time_granularity: ``iat`` is ``now`` rounded down to a multiple of this (herd privacy);
            ``exp`` is ``iat + lifetime``.

    Raises:
        IssuanceError: level outside 1..5, bad band, bad status reference, naive ``now``,
            non-positive lifetime or granularity, or ``holder_jwk`` is not a supported public
            key.
    """
    _check_inputs(claims, status, now, lifetime)
    _check_holder_key(holder_jwk)
    return _Batch(signer, issuer, scale_id, scale_version, claims, now, lifetime, time_granularity)(
        [(holder_jwk, status)], _thumbprints([holder_jwk]), salts
    )[0]


def issue_batch(
    signer: Signer,
    *,
    issuer: str,
    scale_id: str,
    scale_version: str,
    claims: CreditClaims,
    holders: Sequence[tuple[Mapping[str, str], StatusRef]],
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
    salts: SaltSource = random_salt,
    time_granularity: timedelta = DEFAULT_TIME_GRANULARITY,
    keys_checked: bool = False,
) -> list[IssuedAttestation]:
    """Sign one attestation per ``(holder_jwk, status)`` pair, each with fresh salts.

    Presentations made from different attestations of a batch share no holder key, salt,
    digest or status index, so a merchant cannot join them (privacy invariant 3). Each
    attestation is exactly what :func:`issue_attestation` makes for its holder; the work that
    does not depend on the holder (header, the shared part of the payload, Disclosure
    suffixes) is done once per batch, and the salts of the whole batch come from one call to
    the operating system's CSPRNG.

    ``keys_checked``: the caller has already validated these keys with
    :func:`protocol.jose.check_public_jwks` (the node does, before its transaction, to answer a
    bad key by its index, and passes each key's minimal JWK with the same key bytes), so they
    are not checked again (~3 µs an attestation). Pass it only for keys validated that way.

    Raises:
        IssuanceError: as :func:`issue_attestation`, or two holders share a key or status index.
    """
    if holders:
        _check_inputs(claims, holders[0][1], now, lifetime)
    for _, ref in holders:  # _check_status(ref) for each, inline
        if type(ref.idx) is not int or ref.idx < 0 or not ref.uri:
            raise IssuanceError(_BAD_STATUS)
    jwks = [jwk for jwk, _ in holders]
    try:
        if not keys_checked:
            check_public_jwks(jwks)  # kty/crv, lengths and each curve point, as key import does
    except MalformedError as err:
        raise IssuanceError(f"holder key: {err.message}") from err
    kids = _thumbprints(jwks)
    if len(set(kids)) != len(holders) or len({(r.uri, r.idx) for _, r in holders}) != len(holders):
        raise IssuanceError("each attestation of a batch needs its own holder key and status index")
    if not holders:
        return []
    batch = _Batch(signer, issuer, scale_id, scale_version, claims, now, lifetime, time_granularity)
    return batch(holders, kids, salts)


def _thumbprints(jwks: Sequence[Mapping[str, str]]) -> list[str]:
    """RFC 7638 thumbprints of validated holder keys (``jwk_thumbprint``'s exact output).

    The canonical JSON of a validated key is a fixed template around base64url members, which
    need no escaping; the hashes of the whole batch are base64url-encoded in one pass.
    """
    sha256 = hashlib.sha256
    raw = [
        sha256(
            (
                f'{{"crv":"P-256","kty":"EC","x":"{jwk["x"]}","y":"{jwk["y"]}"}}'
                if jwk["kty"] == "EC"
                else f'{{"crv":"Ed25519","kty":"OKP","x":"{jwk["x"]}"}}'
            ).encode("ascii")
        ).digest()
        for jwk in jwks
    ]
    return _b64u_many(raw, 32)


def _check_holder_key(jwk: Mapping[str, str]) -> None:
    try:
        check_public_jwk(jwk)  # kty/crv, lengths and the curve point, as the key import does
    except MalformedError as err:
        raise IssuanceError(f"holder key: {err.message}") from err


#: Length of the base64url text of a 128-bit salt.
_SALT_TEXT_LEN: Final = 22


def _salts(count: int, salts: SaltSource) -> bytes | list[str]:
    """``count`` salts as base64url text, in the order they are used.

    When every salt is 128 bits (always, with the default source), one ASCII blob of 24 bytes
    per salt: its 22-character text and two filler bytes. Otherwise the list of texts.

    The default source draws all of them in one ``os.urandom`` call: 18 bytes per salt of which
    the last two are zeroed, so that one base64 pass yields 24 characters per salt whose first
    22 are exactly the unpadded encoding of its 16 random bytes (a 128-bit salt ends in a
    character holding 2 salt bits and 4 zero bits either way).

    Raises:
        ValueError: an injected source returned fewer than 128 bits.
    """
    if salts is random_salt:
        raw = bytearray(os.urandom(18 * count))
        raw[16::18] = bytes(count)
        raw[17::18] = bytes(count)
        return binascii.b2a_base64(raw, newline=False).translate(_STD_TO_B64U)
    texts = []
    for _ in range(count):
        salt = salts()
        if len(salt) < SALT_BYTES:
            raise ValueError("salt must carry at least 128 bits")
        texts.append(b64u_encode(salt))
    if set(map(len, texts)) <= {_SALT_TEXT_LEN}:
        return "".join(f"{text}AA" for text in texts).encode("ascii")
    return texts


def _salt_texts(count: int, salts: SaltSource) -> list[str]:
    """``count`` salts as a list of base64url texts, in the order they are used."""
    got = _salts(count, salts)
    if isinstance(got, list):
        return got
    text = got.decode("ascii")
    return [text[i : i + _SALT_TEXT_LEN] for i in range(0, 24 * count, 24)]


def _b64u_many(chunks: Sequence[bytes] | bytes, width: int) -> list[str]:
    """Unpadded base64url of each chunk, all ``width`` bytes long, in one pass.

    Each chunk is padded with zero bytes to a multiple of 3 first; the unpadded encoding of a
    chunk is a prefix of the encoding of its zero-padded form. ``chunks`` may also be the
    chunks already concatenated (then ``width`` must be a multiple of 3).
    """
    pad = -width % 3
    step = (width + pad) // 3 * 4
    keep = -(-width * 4 // 3)
    if isinstance(chunks, bytes):
        if pad:
            raise ValueError("concatenated chunks need a width that is a multiple of 3")
        data, count = chunks, len(chunks) // width
    else:
        data = b"".join(chunks) if not pad else (b"\0" * pad).join(chunks) + b"\0" * pad
        count = len(chunks)
    text = b64u_encode(data)
    return [text[i : i + keep] for i in range(0, step * count, step)]


class _Batch:
    """Everything about a batch that does not depend on the holder, computed once."""

    def __init__(
        self,
        signer: Signer,
        issuer: str,
        scale_id: str,
        scale_version: str,
        claims: CreditClaims,
        now: datetime,
        lifetime: timedelta,
        time_granularity: timedelta,
    ) -> None:
        step = int(time_granularity.total_seconds())
        if step < 1:
            raise IssuanceError("time_granularity must be at least one second")
        self.signer = signer
        iat = int(now.timestamp()) // step * step
        exp = iat + int(lifetime.total_seconds())
        self.issued_at = datetime.fromtimestamp(iat, UTC)
        self.expires_at = datetime.fromtimestamp(exp, UTC)
        header = {"alg": signer.alg, "typ": ATTESTATION_TYP, "kid": signer.kid}
        self.header_b64 = b64u_encode(json_bytes(header)) + "."
        # The payload is json_bytes of {iss, iat, exp, vct, cnf, status, scale, _sd} in this
        # order, assembled from the same encoder's output for each member (byte-identical).
        enc = _ENCODE
        self.payload_head = (
            f'{{"iss":{enc(issuer)},"iat":{iat},"exp":{exp},"vct":{enc(VCT)},"cnf":{{"jwk":'
        )
        self.scale_tail = f',"scale":{enc({"id": scale_id, "version": scale_version})},"_sd":["'
        # Disclosure slots in salt order: level, k = 2..5 (a decoy for k > level), band.
        slots: list[tuple[str, JsonValue] | None] = [(LEVEL_CLAIM, claims.level)]
        for k in range(MIN_AT_LEAST, MAX_LEVEL + 1):
            slots.append((at_least_claim(k), True) if k <= claims.level else None)
        if claims.band is not None:
            slots.append((BAND_CLAIM, [claims.band[0], claims.band[1]]))
        self.slots = slots
        # A Disclosure is base64url('["' + salt + '",' + '"name",value]'); '["' + a 22-character
        # salt is 24 bytes, so its encoding is 32 characters followed by the encoding of the
        # constant rest, which is computed here once per claim.
        self.tails = [
            None if slot is None else b64u_encode(b'",' + json_bytes(list(slot))[1:])
            for slot in slots
        ]

    def __call__(
        self,
        holders: Sequence[tuple[Mapping[str, str], StatusRef]],
        kids: Sequence[str],
        salts: SaltSource,
    ) -> list[IssuedAttestation]:
        slots, tails = self.slots, self.tails
        width = len(slots)
        count = len(holders)
        n = width * count
        got = _salts(n, salts)
        blob = got if isinstance(got, bytes) else None
        texts = got if isinstance(got, list) else []
        heads = ""
        if blob is not None:
            # '["' + salt for every salt, base64url-encoded in one pass (24 bytes -> 32
            # characters each): the blob with each salt's two filler bytes replaced by the '["'
            # of the next salt, behind one more '["'.
            marked = bytearray(blob)
            marked[22::24] = b"[" * n
            marked[23::24] = b'"' * n
            heads = b64u_encode(b'["' + marked[:-2])
        sha256 = hashlib.sha256
        # Column by column: slot j of attestation n uses salt n * width + j.
        digest_columns = []
        disclosure_columns = []
        for j, slot in enumerate(slots):
            if slot is None:  # decoys: the digest of the salt's text, no Disclosure
                if blob is not None:
                    step = 24 * width
                    hashed = [
                        sha256(blob[k : k + _SALT_TEXT_LEN]).digest()
                        for k in range(24 * j, 24 * n, step)
                    ]
                else:
                    hashed = [h.digest() for h in map(sha256, map(str.encode, texts[j::width]))]
            else:
                tail = tails[j]
                encoded = (
                    [heads[i : i + 32] + tail for i in range(32 * j, 32 * n, 32 * width)]
                    if blob is not None and tail is not None
                    else [b64u_encode(json_bytes([t, slot[0], slot[1]])) for t in texts[j::width]]
                )
                disclosure_columns.append(encoded)
                hashed = [h.digest() for h in map(sha256, map(str.encode, encoded))]
            digest_columns.append(_b64u_many(hashed, 32))
        head, scale_tail = self.payload_head, self.scale_tail
        header = self.header_b64.encode("ascii")
        uris: dict[str, str] = {}  # a batch usually shares one status list
        data = []  # the signing inputs, as the bytes that are signed
        for (jwk, ref), sd in zip(holders, zip(*digest_columns, strict=True), strict=True):
            uri = uris.get(ref.uri)
            if uri is None:
                uri = uris[ref.uri] = _ENCODE(ref.uri)
            payload = (
                f'{head}{_jwk_json(jwk)}}},"status":{{"status_list":'
                f'{{"idx":{ref.idx},"uri":{uri}}}}}{scale_tail}'
                f'{_DIGEST_SEPARATOR.join(sorted(sd))}"]}}'
            )
            data.append(header + _b64u_bytes(payload.encode()))
        # All signatures back to back: the signing code and its precomputed tables stay in the
        # CPU caches instead of being evicted by the JSON work of each attestation.
        sign_many = getattr(self.signer, "sign_many", None)  # KeySigner has it; a Signer need not
        signatures: list[bytes] = (
            sign_many(data) if callable(sign_many) else [self.signer.sign(d) for d in data]
        )
        # ES256 (raw r || s) and EdDSA signatures are all 64 bytes: encoded in one pass.
        sig_texts = (
            _b64u_many(signatures, _SIGNATURE_LEN)
            if set(map(len, signatures)) == {_SIGNATURE_LEN}
            else [b64u_encode(signature) for signature in signatures]
        )
        issued_at, expires_at = self.issued_at, self.expires_at
        new, install = object.__new__, object.__setattr__
        out = []
        for signing_input, sig_text, (_, ref), kid, shown in zip(
            data,
            sig_texts,
            holders,
            kids,
            zip(*disclosure_columns, strict=True),
            strict=True,
        ):
            # IssuedAttestation(...) without the frozen __init__'s per-field object.__setattr__:
            # the field dict becomes the instance's __dict__.
            issued = new(IssuedAttestation)
            install(
                issued,
                "__dict__",
                {
                    "sd_jwt": "~".join((f"{signing_input.decode()}.{sig_text}", *shown, "")),
                    "holder_kid": kid,
                    "status": ref,
                    "issued_at": issued_at,
                    "expires_at": expires_at,
                },
            )
            out.append(issued)
        return out


_ENCODE: Final = json_text
#: Length of every ES256 (raw ``r || s``) and EdDSA signature.
_SIGNATURE_LEN: Final = 64
_STD_TO_B64U: Final = bytes.maketrans(b"+/", b"-_")


def _b64u_bytes(data: bytes) -> bytes:
    """``b64u_encode(data).encode()`` without the round trip through ``str``."""
    return binascii.b2a_base64(data, newline=False).translate(_STD_TO_B64U).rstrip(b"=")


_DIGEST_SEPARATOR: Final = '","'


def _jwk_json(jwk: Mapping[str, str]) -> str:
    """``json_bytes`` text of the public members of a validated holder JWK, in export order.

    Nothing a wallet adds (``kid``, ``use``) goes along. Validation guarantees ``kty``/``crv``
    and that ``x``/``y`` are base64url text, which JSON carries without escaping.
    """
    if jwk["kty"] == "EC":
        return f'{{"kty":"EC","crv":"P-256","x":"{jwk["x"]}","y":"{jwk["y"]}"}}'
    return f'{{"kty":"OKP","crv":"Ed25519","x":"{jwk["x"]}"}}'
