"""Where a verifier gets issuer keys: the :class:`KeyResolver` interface.

A verifier never takes a key from a token (no ``jku``, ``x5u``, ``jwk``, ``x5c`` headers). It asks
a resolver, which answers from material it has already verified: the federation trust bundle in
production (``certs.bundle``), a fixed mapping in tests (:class:`StaticKeyResolver`).

What it deliberately does not do: fetch, cache over the network, or read the clock -- the
verification time is passed in so that certificate validity can be checked against it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from protocol.errors import UnknownKeyError, UntrustedIssuerError
from protocol.jose import PublicKey, algorithm_for_key, key_thumbprint


@dataclass(frozen=True)
class TrustedKey:
    """An issuer signing key that a resolver vouches for.

    Attributes:
        issuer: the ``iss`` value tokens signed with this key carry.
        city: the federation member (city id) the issuer belongs to.
        kid: RFC 7638 thumbprint of the key.
        alg: the one JWS algorithm this key may be used with.
        public_key: the key object, ready for :func:`protocol.jose.verify_signature`.
        scale_id: the scale the issuer attests on, where known.
    """

    issuer: str
    city: str
    kid: str
    alg: str
    public_key: PublicKey = field(repr=False)
    scale_id: str | None = None


class KeyResolver(Protocol):
    """Resolves ``(iss, kid)`` to a trusted key valid at ``now``."""

    def resolve(self, issuer: str, kid: str, now: datetime) -> TrustedKey:
        """Return the trusted key.

        Raises:
            UntrustedIssuerError: ``issuer`` is not a federation member.
            UnknownKeyError: the issuer has no key ``kid`` valid at ``now``.
        """
        ...


class StaticKeyResolver:
    """A resolver over a fixed set of keys; for tests, vectors and single-issuer set-ups."""

    def __init__(self, keys: Iterable[TrustedKey] = ()) -> None:
        self._keys: dict[tuple[str, str], TrustedKey] = {}
        self._issuers: set[str] = set()
        for key in keys:
            self.add(key)

    def add(self, key: TrustedKey) -> None:
        """Trust ``key`` from now on."""
        self._keys[(key.issuer, key.kid)] = key
        self._issuers.add(key.issuer)

    @classmethod
    def of(
        cls, keys: Mapping[str, PublicKey], *, city: str = "", scale_id: str | None = None
    ) -> StaticKeyResolver:
        """Build from ``{issuer: public_key}``; ``kid`` and ``alg`` are derived from the key."""
        return cls(
            TrustedKey(
                issuer=issuer,
                city=city or issuer,
                kid=key_thumbprint(key),
                alg=algorithm_for_key(key),
                public_key=key,
                scale_id=scale_id,
            )
            for issuer, key in keys.items()
        )

    def resolve(self, issuer: str, kid: str, now: datetime) -> TrustedKey:
        """See :meth:`KeyResolver.resolve`; ``now`` is unused for static keys."""
        del now
        if issuer not in self._issuers:
            raise UntrustedIssuerError(f"issuer {issuer!r} is not trusted")
        try:
            return self._keys[(issuer, kid)]
        except KeyError:
            raise UnknownKeyError(f"issuer {issuer!r} has no key {kid!r}") from None
