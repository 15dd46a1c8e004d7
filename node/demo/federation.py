"""Set up and run the five-city demo federation on 127.0.0.1.

What it does, in order (:meth:`DemoFederation.setup`), timing and reporting each step:

1. a recording reverse proxy per city (:mod:`node.demo.proxy`), whose URL is the node's public
   URL and its ``iss``;
2. each city's offline material with the ``certs`` API: a city CA, a governance key;
3. per city, as an operator would: the city CA creates and certifies the node's signing key,
   ``huxin node init --key --cert`` sets the node up, one credential per role (office, city
   app, merchant; what ``huxin node credential add`` runs) and ``huxin node import`` of
   synthetic residents, three cities at a time;
4. the federation root, version 1, signed 3-of-5 (``certs.update``), given to every node;
5. five ``huxin node run`` processes, each on its own SQLite database and a port the OS chose;
6. each city's public material signed by its node key, and the trust bundle for merchants.

:meth:`DemoFederation.rotate_ca` replaces one city's CA in root version 2 (signed 3-of-5) and
gives its node a new signing key certified by the new CA. :meth:`DemoFederation.close` stops
every process and proxy.

What it deliberately does not do: peer sync between nodes (the demo builds the bundle itself as
the federation's set-up step), or any certificate, protocol or node logic of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509

from certs.bundle import TrustBundle, build_bundle, sign_material
from certs.ca import Purpose, create_ca, issue_node_certificate
from certs.keys import (
    PRIVATE_KEY_FILE_MODE,
    certificate_pem,
    generate_private_key,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
)
from certs.root import Member, Root, parse_signed_root
from certs.update import (
    Proposal,
    combine_signatures,
    initial_root,
    member_entry,
    parse_member_entry,
    propose,
    sign_proposal,
)
from mapping.scale import Scale, builtin_scale
from node.config import CITY_SCALES
from node.demo.procs import DemoError, Supervisor, free_port, wait_ready
from node.demo.proxy import RecordingProxy
from node.demo.residents import Resident, residents_for, write_csv
from protocol.jose import KeySigner, PrivateKey, parse_json_object

FEDERATION: Final = "huxin-demo"
THRESHOLD: Final = 3
#: The five cities of the demo: id, Chinese name, English name.
CITIES: Final = (
    ("zhengzhou", "郑州", "Zhengzhou"),
    ("hangzhou", "杭州", "Hangzhou"),
    ("nanjing", "南京", "Nanjing"),
    ("wuhan", "武汉", "Wuhan"),
    ("suzhou", "苏州", "Suzhou"),
)
ROLES: Final = ("office", "app", "merchant")
#: Who signs root versions (any three of the five would do).
SIGNERS: Final = ("zhengzhou", "hangzhou", "wuhan")
SUBPROCESS_TIMEOUT_SECONDS: Final = 120.0
HTTP_TIMEOUT_SECONDS: Final = 30.0
#: How often demo nodes sync with each other (a production node: every 60 s).
DEMO_SYNC_INTERVAL_SECONDS: Final = 5

Report = Callable[[str], None]


def huxin_command() -> list[str]:
    """The ``huxin`` command line of this interpreter's installation."""
    script = Path(sys.executable).with_name("huxin")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from node.cli import main; main()"]


def run_huxin(
    args: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``huxin ARGS`` in a subprocess, as a user would, and capture its output.

    Raises:
        DemoError: it exited non-zero and ``check`` is true.
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    done = subprocess.run(  # noqa: S603 - our own command
        [*huxin_command(), *(str(a) for a in args)],
        env=full_env,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
        check=False,
    )
    if check and done.returncode != 0:
        shown = " ".join(str(a) for a in args[:3])
        raise DemoError(
            f"huxin {shown} ... exited {done.returncode}: {done.stderr.strip() or done.stdout}"
        )
    return done


def http_json(
    method: str,
    url: str,
    body: Mapping[str, object] | None = None,
    *,
    token: str | None = None,
) -> tuple[int, dict[str, object]]:
    """One JSON request; returns ``(status, JSON object)`` for any HTTP status.

    Raises:
        DemoError: the node could not be reached or did not answer JSON.
    """
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - our node
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_SECONDS) as resp:  # noqa: S310
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    except (urllib.error.URLError, OSError) as err:
        raise DemoError(f"{method} {url}: {err}") from err
    try:
        return status, parse_json_object(raw, what=url)
    except ValueError as err:
        raise DemoError(f"{method} {url}: answered {status} with non-JSON") from err


@dataclass
class City:
    """One member city: its offline keys, its node, its credentials and residents."""

    city: str
    name_zh: str
    name_en: str
    scale: Scale
    dir: Path
    url: str = ""
    port: int = 0
    ca_key: PrivateKey | None = field(default=None, repr=False)
    ca_cert: x509.Certificate | None = field(default=None, repr=False)
    governance: KeySigner = field(default_factory=KeySigner.generate, repr=False)
    credentials: dict[str, str] = field(default_factory=dict, repr=False)
    residents: list[Resident] = field(default_factory=list, repr=False)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def node_dir(self) -> Path:
        """The node's data directory."""
        return self.dir / "node"

    @property
    def label(self) -> str:
        """``郑州 Zhengzhou``."""
        return f"{self.name_zh} {self.name_en}"

    def signer(self) -> KeySigner:
        """The node's current attestation-signing key (the operator has the file)."""
        pem = (self.node_dir / "signing-key.pem").read_bytes()
        return KeySigner(load_private_key(pem, what="signing key"))


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = time.perf_counter() - started


class DemoFederation:
    """Five real city nodes on 127.0.0.1 and everything around them."""

    def __init__(
        self,
        base: Path,
        *,
        residents: int = 10_000,
        report: Report = print,
        extra_residents: Mapping[str, Sequence[Resident]] | None = None,
        workers: int = 3,
    ) -> None:
        self.base = base
        self.resident_count = residents
        self.report = report
        self.extra = {c: list(r) for c, r in (extra_residents or {}).items()}
        self.workers = workers
        self.now = datetime.now(UTC)
        self.supervisor = Supervisor()
        self.proxy = RecordingProxy()
        self.cities: dict[str, City] = {
            c: City(c, zh, en, builtin_scale(CITY_SCALES[c]), base / "cities" / c)
            for c, zh, en in CITIES
        }
        self.roots: list[bytes] = []
        self.materials: dict[str, bytes] = {}
        self.bundle: TrustBundle | None = None

    # -- paths -------------------------------------------------------------------------------

    @property
    def federation_dir(self) -> Path:
        """Roots and proposals."""
        return self.base / "federation"

    @property
    def pinned_root_path(self) -> Path:
        """Root version 1: what merchants pin (compare its SHA-256 out of band)."""
        return self.root_path(1)

    def root_path(self, version: int) -> Path:
        """The signed root file of ``version``."""
        return self.federation_dir / "roots" / f"{version}.root.json"

    @property
    def bundle_path(self) -> Path:
        """The merchants' trust bundle."""
        return self.base / "trust-bundle.json"

    def city(self, city: str) -> City:
        """The member ``city``."""
        return self.cities[city]

    # -- set-up ------------------------------------------------------------------------------

    def _step(self, zh: str, en: str, work: Callable[[], str | None]) -> None:
        started = time.perf_counter()
        self.report(f"  … {zh} / {en}")
        detail = work()
        took = time.perf_counter() - started
        tail = f" — {detail}" if detail else ""
        self.report(f"  ✓ {zh} / {en} ({took:.1f} s){tail}")

    def setup(self) -> None:
        """Build and start the whole federation (see the module docstring).

        Raises:
            DemoError: a step failed (its command's message says why).
        """
        self.base.mkdir(parents=True, exist_ok=True)
        self._step("代理与端口", "proxies and ports", self._proxies)
        self._step("城市CA与治理密钥", "city CAs and governance keys", self._offline_keys)
        self._step(
            "节点初始化、证书、凭据、导入居民",
            f"node init, certificates, credentials, {self.resident_count:,} residents per city",
            self._nodes,
        )
        self._step("联盟根 v1（5 城 3 签）", "federation root v1 (3-of-5)", self._root_v1)
        self._step("启动五个节点进程", "starting five node processes", self._start_all)
        self._step("发布状态列表", "status lists published", self._warm_up)
        self._step("成员材料与信任包", "member material and trust bundle", self._bundle)

    def _proxies(self) -> str:
        for c in self.cities.values():
            c.url = self.proxy.add(c.city)
            c.port = free_port()
        return ", ".join(f"{c.city} {c.url}" for c in self.cities.values())

    def _offline_keys(self) -> None:
        for c in self.cities.values():
            key = generate_private_key()
            c.ca_key = key
            c.ca_cert = create_ca(key, federation=FEDERATION, city=c.city, now=self.now)
            offline = c.dir / "offline"
            offline.mkdir(parents=True, exist_ok=True)
            _write_private(offline / "ca.key", private_key_pem(key))
            (offline / "ca.pem").write_text(certificate_pem(c.ca_cert), encoding="ascii")
            _write_private(
                offline / "governance.key",
                private_key_pem(c.governance.private_key),
            )

    def _nodes(self) -> str:
        pool = ThreadPoolExecutor(max_workers=self.workers)
        try:
            list(pool.map(self._set_up_node, self.cities.values()))
        finally:  # on an error or Ctrl-C: no city still waiting is started
            pool.shutdown(wait=True, cancel_futures=True)
        total = sum(len(c.residents) for c in self.cities.values())
        slowest = max(self.cities.values(), key=lambda c: sum(c.timings.values()))
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in slowest.timings.items())
        return f"{total:,} residents imported; slowest city {slowest.city}: {parts}"

    def _set_up_node(self, c: City) -> None:
        node = c.node_dir
        with _timed(c.timings, "init"):
            # The city CA creates the node's key and certificate; init takes both (the
            # operator guide's second way), which saves an install-cert run per city.
            offline = c.dir / "offline"
            node_key = generate_private_key()
            _write_private(offline / "node-signing-key.pem", private_key_pem(node_key))
            (offline / "node-signing-key.pub.pem").write_bytes(
                public_key_pem(node_key.public_key())
            )
            self._certify(c, offline / "node-signing-key.pub.pem", offline / "node-cert.pem")
            run_huxin(
                [
                    "node",
                    "init",
                    "--city",
                    c.city,
                    "--data",
                    node,
                    "--public-url",
                    c.url,
                    "--port",
                    str(c.port),
                    "--key",
                    offline / "node-signing-key.pem",
                    "--cert",
                    offline / "node-cert.pem",
                ]
            )
        with _timed(c.timings, "credentials"):
            c.credentials.update(_add_credentials(node, c.city))
        with _timed(c.timings, "import"):
            c.residents = self.extra.get(c.city, []) + residents_for(
                c.scale, self.resident_count, seed=f"huxin-demo:{c.city}"
            )
            csv_path = c.dir / "platform" / "scores.csv"
            write_csv(csv_path, c.residents)
            out = run_huxin(["node", "import", "--data", node, "--quiet", csv_path])
            stats = parse_json_object(out.stdout, what="import result")
            if stats.get("rejected"):
                raise DemoError(f"{c.city}: import rejected records: {stats}")
        times = ", ".join(f"{k} {v:.1f} s" for k, v in c.timings.items())
        self.report(f"    · {c.label}: {len(c.residents):,} 居民 residents ({times})")

    def _certify(self, c: City, public_pem: Path, out: Path) -> None:
        if c.ca_key is None or c.ca_cert is None:
            raise DemoError(f"{c.city}: no city CA yet")
        cert = issue_node_certificate(
            c.ca_key,
            c.ca_cert,
            load_public_key(public_pem.read_bytes()),
            purpose=Purpose.ATTESTATION,
            now=self.now,
        )
        out.write_text(certificate_pem(cert) + certificate_pem(c.ca_cert), encoding="ascii")

    def _member(self, c: City) -> Member:
        assert c.ca_cert is not None  # noqa: S101 - made by _offline_keys
        entry = member_entry(
            city=c.city,
            name_zh=c.name_zh,
            name_en=c.name_en,
            issuer=c.url,
            node_url=c.url,
            scale_id=c.scale.id,
            ca_certificate=c.ca_cert,
            governance_keys=[c.governance.public_key],
        )
        return parse_member_entry(json.dumps(entry).encode(), federation=FEDERATION)

    def _sign_root(self, root: Root, signers: Sequence[str]) -> bytes:
        payload = root.payload()
        proposals = self.federation_dir / "proposals"
        proposals.mkdir(parents=True, exist_ok=True)
        (proposals / f"root-{root.version}.json").write_bytes(payload)
        sigs = []
        for city in signers:
            sig = sign_proposal(payload, self.cities[city].governance)
            (proposals / f"root-{root.version}.{city}.sig.json").write_bytes(sig)
            sigs.append(sig)
        signed = combine_signatures(payload, sigs).to_bytes()
        path = self.root_path(root.version)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(signed)
        self.roots.append(signed)
        for c in self.cities.values():  # each node serves the root it is given
            (c.node_dir / "federation-root.json").write_bytes(signed)
        return signed

    def _root_v1(self) -> str:
        root = initial_root(
            federation=FEDERATION,
            members=[self._member(c) for c in self.cities.values()],
            threshold=THRESHOLD,
            expires=self.now + timedelta(days=365),
        )
        self._sign_root(root, SIGNERS)
        return f"signed by {', '.join(SIGNERS)}"

    def _spawn(self, city: str) -> None:
        c = self.cities[city]
        self.supervisor.start(
            city,
            [*huxin_command(), "node", "run", "--data", str(c.node_dir), "--port", str(c.port)],
            log=c.dir / "node.log",
            env={
                **os.environ,
                "HUXIN_LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
                # Sync every few seconds (production: 60) so peers see a new key or list soon.
                "HUXIN_SYNC_INTERVAL_SECONDS": str(DEMO_SYNC_INTERVAL_SECONDS),
            },
        )
        self.proxy.set_upstream(city, f"http://127.0.0.1:{c.port}")

    def _wait(self, city: str) -> None:
        c = self.cities[city]
        wait_ready(
            f"http://127.0.0.1:{c.port}/readyz",
            process=self.supervisor.children[city].process,
            log=c.dir / "node.log",
            name=f"{c.label} node",
        )

    def start_node(self, city: str) -> None:
        """Start (or restart) ``city``'s ``huxin node run`` and wait until it is ready.

        Raises:
            DemoError: it exited or did not become ready in time.
        """
        self._spawn(city)
        self._wait(city)

    def _start_all(self) -> str:
        for city in self.cities:
            self._spawn(city)
        for city in self.cities:
            self._wait(city)
        pids = ", ".join(f"{n} {ch.pid}" for n, ch in self.supervisor.children.items())
        return f"pids {pids}"

    def _warm_up(self) -> str:
        """Each city's first issuance creates its status list (herd of 131,072 entries)."""
        for c in self.cities.values():
            sample = c.residents[-1]
            self.consent(c.city, sample.national_id)
            holder = KeySigner.generate()
            self.issue(c.city, sample.national_id, [holder.public_jwk])
        return "list 1 of every city"

    def status_list_uri(self, city: str) -> str:
        """The URI of ``city``'s first status list."""
        return f"{self.cities[city].url}/status/1"

    def material(self, city: str) -> bytes:
        """Sign ``city``'s public material with its node's current key."""
        c = self.cities[city]
        signer = c.signer()
        chain = (c.node_dir / "signing-cert.pem").read_bytes()
        cert = x509.load_pem_x509_certificates(chain)[0]
        incentives = parse_json_object(
            (c.node_dir / "incentives.json").read_bytes(), what="incentives"
        )
        data = sign_material(
            signer,
            federation=FEDERATION,
            city=city,
            attestation_keys=[(signer.public_key, cert)],
            scale=c.scale,
            incentives=incentives,
            status_lists=[self.status_list_uri(city)],
            now=datetime.now(UTC),
        )
        (c.dir / "material.json").write_bytes(data)
        return data

    def _bundle(self) -> str:
        for city in self.cities:
            self.materials[city] = self.material(city)
        self.rebuild_bundle()
        return f"{self.bundle_path.name}, pinned root {self.pinned_root_path.name}"

    def rebuild_bundle(self) -> TrustBundle:
        """Assemble and verify the trust bundle from every root and the current materials."""
        data, bundle = build_bundle(
            self.roots,
            [self.materials[c] for c in self.cities],
            now=datetime.now(UTC),
            pinned_root=self.roots[0],
        )
        self.bundle_path.write_bytes(data)
        for c in self.cities.values():
            (c.node_dir / "trust-bundle.json").write_bytes(data)
        self.bundle = bundle
        return bundle

    # -- the city app and office, over HTTP --------------------------------------------------

    def consent(self, city: str, national_id: str, granted: bool = True) -> None:
        """The city app records the signed-in resident's consent.

        Raises:
            DemoError: the node refused.
        """
        c = self.cities[city]
        status, obj = http_json(
            "POST",
            f"{c.url}/v1/residents/consent",
            {"national_id": national_id, "granted": granted},
            token=c.credentials["app"],
        )
        if status != 200:
            raise DemoError(f"{city}: consent refused: {obj}")

    def issue(
        self, city: str, national_id: str, holder_keys: Sequence[Mapping[str, str]]
    ) -> list[dict[str, object]]:
        """The city app asks for a batch of attestations for the resident.

        Raises:
            DemoError: the node refused.
        """
        c = self.cities[city]
        status, obj = http_json(
            "POST",
            f"{c.url}/v1/attestations",
            {"national_id": national_id, "holder_keys": [dict(k) for k in holder_keys]},
            token=c.credentials["app"],
        )
        items = obj.get("attestations")
        if status != 200 or not isinstance(items, list):
            raise DemoError(f"{city}: issuance refused: {obj}")
        return [i for i in items if isinstance(i, dict)]

    def push_score(self, city: str, national_id: str, score: int, seq: int) -> dict[str, object]:
        """The city's credit platform pushes one score record (office credential).

        Raises:
            DemoError: the node refused.
        """
        c = self.cities[city]
        status, obj = http_json(
            "POST",
            f"{c.url}/v1/scores",
            {"national_id": national_id, "score": score, "seq": seq},
            token=c.credentials["office"],
        )
        if status != 200:
            raise DemoError(f"{city}: score refused: {obj}")
        return obj

    # -- rotation ----------------------------------------------------------------------------

    def rotate_ca(self, city: str, signers: Sequence[str] = SIGNERS) -> str:
        """Replace ``city``'s CA in a new root version signed 3-of-5, and re-key its node.

        The new CA certifies a new node signing key; the node is restarted on it; every node
        is given the new root; the city's material is re-signed and the bundle rebuilt.

        Returns:
            The new signing key's ``kid``.

        Raises:
            DemoError: a step failed.
        """
        c = self.cities[city]
        current = parse_signed_root(self.roots[-1]).root
        new_key = generate_private_key()
        new_ca = create_ca(new_key, federation=FEDERATION, city=city, now=datetime.now(UTC))
        c.ca_key, c.ca_cert = new_key, new_ca
        offline = c.dir / "offline"
        _write_private(offline / f"ca-v{current.version + 1}.key", private_key_pem(new_key))
        (offline / f"ca-v{current.version + 1}.pem").write_text(
            certificate_pem(new_ca), encoding="ascii"
        )
        root = propose(current, Proposal(ca_certificates={city: new_ca}))
        self._sign_root(root, signers)
        # The node's new signing key, certified by the new CA (operator guide, key rotation).
        self.supervisor.stop(city)
        node_key = generate_private_key()
        signing = c.node_dir / "signing-key.pem"
        signing.write_bytes(private_key_pem(node_key))
        os.chmod(signing, PRIVATE_KEY_FILE_MODE)
        public = c.node_dir / "signing-key.pub.pem"
        public.write_bytes(public_key_pem(node_key.public_key()))
        self._certify(c, public, c.node_dir / "issued-cert.pem")
        run_huxin(["node", "install-cert", "--data", c.node_dir, c.node_dir / "issued-cert.pem"])
        self.start_node(city)
        self.materials[city] = self.material(city)
        self.rebuild_bundle()
        return c.signer().kid

    def close(self) -> None:
        """Stop every node process and the proxies."""
        try:
            self.supervisor.close()
        finally:
            self.proxy.close()


def _add_credentials(node_dir: Path, city: str) -> dict[str, str]:
    """One credential per role, through ``node.auth`` (what ``huxin node credential add`` runs).

    In-process rather than three CLI runs: each run pays the interpreter's start-up, which
    would triple this step on a 2-core machine.
    """
    import asyncio

    from node import auth
    from node.config import load_config
    from node.db import create_engine

    config = load_config(node_dir, os.environ)

    async def add() -> dict[str, str]:
        engine = create_engine(config.database_url, pool_size=1)
        try:
            return {
                role: await auth.add_credential(
                    engine,
                    name=f"demo-{city}-{role}",
                    role=auth.Role(role),
                    actor="demo",
                    now=datetime.now(UTC),
                )
                for role in ROLES
            }
        finally:
            await engine.dispose()

    return asyncio.run(add())


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_KEY_FILE_MODE)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
