"""The demo's story, told in plain bilingual text (Chinese first), driven through real interfaces.

What it does: :class:`Story` runs, against a started :class:`~node.demo.federation.
DemoFederation`, what its people do -- the city app (HTTP with the ``app`` credential), the
citizen (``huxin wallet ...`` in subprocesses), the merchant (``huxin verify ...`` in
subprocesses, offline, with a status cache), the credit office (HTTP with the ``office``
credential) and the federation (a new root version signed 3-of-5) -- and keeps each verdict in
:attr:`Story.verdicts` for the end-to-end tests. Chapters:

1. a Zhengzhou resident with 商鼎分 135 gets a batch of attestations;
2. presents them at a Hangzhou library and at Hangzhou campus fitness, with the mapping shown;
3. a Nanjing honest-card holder in Suzhou;
4. a dishonesty record lowers the score, the node revokes, the merchant's next check refuses;
5. Nanjing's CA is replaced in root version 2 (3-of-5), its node re-keyed, and verification
   goes on with the new key;
6. privacy invariant 1 measured over every response the proxies recorded.

What it deliberately does not do: verify anything itself (the ``huxin verify`` output is the
verdict), or read any resident data other than the story's own synthetic residents.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from mapping.convert import convert_score
from mapping.scale import builtin_scale
from node.demo.federation import DemoFederation, http_json, run_huxin
from node.demo.privacy import Leak, scan
from node.demo.procs import DemoError
from node.demo.residents import Resident, synthetic_national_id
from node.qr import decode_image, qr_version

Say = Callable[[str], None]


@dataclass(frozen=True)
class StoryResident:
    """A named synthetic resident the story follows."""

    city: str
    name: str
    resident: Resident


def story_residents() -> dict[str, StoryResident]:
    """The story's people (synthetic: seeded IDs under region 99, invented names)."""
    rng = random.Random("huxin-demo:story")  # noqa: S311 - synthetic data
    return {
        "zhengzhou": StoryResident(
            "zhengzhou", "张晓明", Resident(synthetic_national_id(rng), 135, seq=1)
        ),
        "nanjing": StoryResident("nanjing", "李静", Resident(synthetic_national_id(rng), 1, seq=1)),
    }


#: The score a dishonesty record (失信记录) lowers the Zhengzhou resident to: level 2.
LOWERED_SCORE: Final = 95


@dataclass
class Story:
    """The story against a running federation; verdicts are kept for the tests."""

    fed: DemoFederation
    say: Say = print
    people: dict[str, StoryResident] = field(default_factory=story_residents)
    verdicts: dict[str, dict[str, object]] = field(default_factory=dict)
    leaks: list[Leak] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def work(self) -> Path:
        """Where wallets and merchants keep their files."""
        return self.fed.base / "story"

    def wallet(self, who: str) -> Path:
        """The wallet directory of ``who`` (a city id of :attr:`people`)."""
        return self.work / "wallets" / who

    def merchant(self, city: str) -> Path:
        """The status cache of a merchant in ``city``."""
        return self.work / "merchants" / city

    # -- the actors --------------------------------------------------------------------------

    def _bundle_args(self) -> list[str]:
        return ["--bundle", str(self.fed.bundle_path), "--root", str(self.fed.pinned_root_path)]

    def fetch(self, who: str, count: int = 8) -> None:
        """The city app signs the resident in; the wallet fetches a batch (``huxin wallet``).

        A new batch retires the unused rest of the previous one (``huxin wallet fetch``).
        """
        person = self.people[who]
        c = self.fed.city(person.city)
        wallet = self.wallet(who)
        if not (wallet / "wallet.json").exists():
            run_huxin(["wallet", "init", "--dir", wallet, "--count", str(count)])
        out = run_huxin(
            [
                "wallet",
                "fetch",
                "--dir",
                wallet,
                "--node",
                c.url,
                "--count",
                str(count),
            ],
            env={
                "HUXIN_CREDENTIAL": c.credentials["app"],
                "HUXIN_NATIONAL_ID": person.resident.national_id,
            },
        )
        for line in out.stdout.strip().splitlines():
            self.say(f"     {line}")

    def present(
        self, wallet: str, incentive: str, name: str, *, qr: bool = False
    ) -> tuple[Path | None, str]:
        """The wallet presents for ``incentive``; returns the file (or None) and its message.

        With ``qr`` the file is the PNG of the QR code a gate scans, else the presentation text.
        """
        out_file = self.work / "presentations" / f"{name}.{'png' if qr else 'txt'}"
        out_file.parent.mkdir(parents=True, exist_ok=True)
        done = run_huxin(
            [
                "wallet",
                "present",
                "--dir",
                self.wallet(wallet),
                "--for",
                incentive,
                *self._bundle_args(),
                "--qr" if qr else "--out",
                out_file,
            ],
            check=False,
        )
        message = (done.stdout + done.stderr).strip()
        return (out_file if done.returncode == 0 else None), message

    def refresh(self, city: str) -> str:
        """The merchant refreshes its status lists (whole lists only: herd privacy)."""
        done = run_huxin(
            [
                "verify",
                "--refresh-status",
                *self._bundle_args(),
                "--status-cache",
                self.merchant(city),
            ],
            check=False,
        )
        return done.stderr.strip()

    def verify(self, city: str, presentation: Path, incentive: str, name: str) -> dict[str, object]:
        """The merchant verifies offline (``huxin verify --json``) and keeps the verdict."""
        done = run_huxin(
            [
                "verify",
                presentation,
                *self._bundle_args(),
                "--status-cache",
                self.merchant(city),
                "--incentive",
                incentive,
                "--json",
            ],
            check=False,
        )
        try:
            verdict = json.loads(done.stdout)
        except ValueError as err:
            raise DemoError(f"huxin verify printed no verdict: {done.stderr.strip()}") from err
        if not isinstance(verdict, dict):
            raise DemoError("huxin verify printed no JSON object")
        verdict["exit_status"] = done.returncode
        self.verdicts[name] = verdict
        return verdict

    def _show(self, verdict: dict[str, object], *, expect: str) -> None:
        """Print the verdict; ``expect`` is the eligibility or error code the story needs.

        Raises:
            DemoError: the verdict is not what the story says (the demo must not pass silently).
        """
        explanation = verdict.get("explanation")
        if verdict.get("valid"):
            eligibility = verdict.get("eligibility")
            mark = {"eligible": "通过 PASS", "not_eligible": "不符合 NOT ELIGIBLE"}.get(
                str(eligibility), "待定 UNDETERMINED"
            )
        else:
            mark = f"拒绝 REJECTED: {verdict.get('error')}"
        self.say(f"     商户核验结果 merchant's verdict: [{mark}]")
        if isinstance(explanation, dict):
            self.say(f"       {explanation.get('zh')}")
            self.say(f"       {explanation.get('en')}")
        got = verdict.get("eligibility") if verdict.get("valid") else verdict.get("error")
        if got != expect:
            raise DemoError(
                f"the merchant's verdict is {got!r}, the story expects {expect!r}: "
                f"{verdict.get('message') or explanation}"
            )

    def _chapter(self, zh: str, en: str) -> None:
        self.say("")
        self.say(f"■ {zh}")
        self.say(f"  {en}")

    def _timed(self, name: str, work: Callable[[], None]) -> None:
        started = time.perf_counter()
        work()
        self.timings[name] = time.perf_counter() - started

    # -- the chapters ------------------------------------------------------------------------

    def run(self) -> None:
        """Tell the whole story.

        Raises:
            DemoError: a step did not go as the story says (the message says which).
        """
        self._timed("zhengzhou", self.zhengzhou_resident)
        self._timed("hangzhou", self.hangzhou_merchants)
        self._timed("nanjing", self.nanjing_in_suzhou)
        self._timed("revocation", self.dishonesty_record)
        self._timed("rotation", self.key_rotation)
        self._timed("privacy", self.privacy)

    def zhengzhou_resident(self) -> None:
        """Chapter 1: a Zhengzhou resident with 商鼎分 135 gets attestations."""
        person = self.people["zhengzhou"]
        c = self.fed.city("zhengzhou")
        self._chapter(
            f"一、郑州居民{person.name}（合成数据）商鼎分 {person.resident.score}，领取信用证明",
            f"1. {person.name} (synthetic), a Zhengzhou resident with Shangding score "
            f"{person.resident.score}, gets attestations",
        )
        self.fed.consent("zhengzhou", person.resident.national_id)
        self.say(
            "   郑州城市App记录本人授权 / the Zhengzhou city app records the resident's consent"
        )
        status, me = http_json(
            "POST",
            c.url + "/v1/residents/me",
            {"national_id": person.resident.national_id},
            token=c.credentials["app"],
        )
        if status != 200:
            raise DemoError(f"zhengzhou: /v1/residents/me answered {status}: {me}")
        self.say(
            f"   本人App可见（唯一例外）/ only the resident's own app sees: "
            f"商鼎分 score {_number(me.get('score'))}, 等级 level {me.get('level')}"
        )
        self.say(f"   $ huxin wallet fetch --node {c.url} ...")
        self.fetch("zhengzhou")

    def hangzhou_merchants(self) -> None:
        """Chapter 2: the Hangzhou library and campus fitness, with the mapping shown."""
        person = self.people["zhengzhou"]
        shangding, qianjiang = builtin_scale("shangding"), builtin_scale("qianjiang")
        conv = convert_score(person.resident.score, shangding, qianjiang)
        band = shangding.band_of(person.resident.score)
        low, high = qianjiang.level_span(conv.level)
        self._chapter(
            "二、在杭州图书馆和校园健身出示证明",
            "2. Presenting at a Hangzhou library and at Hangzhou campus fitness",
        )
        self.say(
            f"   换算（等级锚定）/ mapping (level-anchored): 商鼎分 {person.resident.score} = "
            f"{band.name_zh} level {conv.level} → 钱江分 ≈ {conv.value:.0f} "
            f"(钱江分 level {conv.level}: {low}–{high})"
        )
        self.say(
            "   商户看不到分数：钱包只披露“等级至少 k” / the merchant never sees the score: the "
            "wallet discloses only “level at least k”"
        )
        self.say("   杭州商户刷新状态列表 / the Hangzhou merchant refreshes status lists")
        self.refresh("hangzhou")
        for incentive, zh, en in (
            ("hangzhou/library-card", "杭州图书馆（钱江分 650 及以上）", "Hangzhou library (650+)"),
            ("hangzhou/campus-fitness", "杭州校园健身（钱江分高于 580）", "campus fitness (>580)"),
        ):
            name = incentive.split("/")[1]
            path, message = self.present("zhengzhou", incentive, f"zhengzhou-{name}")
            self.say(f"   {zh} / {en}: $ huxin wallet present --for {incentive}")
            if path is None:
                raise DemoError(f"the wallet could not present for {incentive}: {message}")
            self.say(f"     {message.splitlines()[0] if message else ''}")
            self._show(
                self.verify("hangzhou", path, incentive, f"zhengzhou-{name}"), expect="eligible"
            )

    def nanjing_in_suzhou(self) -> None:
        """Chapter 3: a Nanjing honest-card holder at a Suzhou library."""
        person = self.people["nanjing"]
        self._chapter(
            f"三、南京市民诚信卡持卡人{person.name}（合成数据）在苏州",
            f"3. {person.name} (synthetic), a Nanjing honest-card holder, in Suzhou",
        )
        self.fed.consent("nanjing", person.resident.national_id)
        self.fetch("nanjing")
        self.say("   诚信卡=“信用优秀及以上” / the card attests “level 4 or above”")
        self.refresh("suzhou")
        path, message = self.present("nanjing", "suzhou/library-card", "nanjing-suzhou", qr=True)
        if path is None:
            raise DemoError(f"the Nanjing wallet could not present: {message}")
        scanned = decode_image(path.read_bytes())
        self.say(
            f"   手机出示二维码，闸机扫描 / the phone shows a QR code, the gate scans it: "
            f"{len(scanned)} 字符 characters, 版本 version {qr_version(scanned)} ({path.name})"
        )
        self.say("   苏州图书馆免押金借书 / Suzhou library card without deposit")
        self._show(
            self.verify("suzhou", path, "suzhou/library-card", "nanjing-suzhou"),
            expect="eligible",
        )

    def dishonesty_record(self) -> None:
        """Chapter 4: a dishonesty record lowers the score; the next check refuses."""
        person = self.people["zhengzhou"]
        self._chapter(
            "四、失信记录使分数下降，商户下一次核验拒绝",
            "4. A dishonesty record lowers the score; the merchant's next check refuses",
        )
        # The wallet still holds unused attestations of the batch; present one before the
        # record arrives, as a visitor would have on their phone.
        path, message = self.present("zhengzhou", "hangzhou/library-card", "zhengzhou-revoked")
        if path is None:
            raise DemoError(f"the wallet could not present: {message}")
        stats = self.fed.push_score(
            "zhengzhou", person.resident.national_id, LOWERED_SCORE, person.resident.seq + 1
        )
        self.say(
            f"   郑州信用平台推送新分数 {LOWERED_SCORE}（一般）/ the Zhengzhou platform pushes "
            f"score {LOWERED_SCORE} (fair): {stats.get('revoked')} 份证明被吊销 "
            "attestations revoked"
        )
        self.say("   杭州商户刷新状态列表 / the Hangzhou merchant refreshes its status lists")
        self.refresh("hangzhou")
        self._show(
            self.verify("hangzhou", path, "hangzhou/library-card", "zhengzhou-revoked"),
            expect="revoked",
        )
        self.fetch("zhengzhou")
        again, message = self.present("zhengzhou", "hangzhou/library-card", "zhengzhou-lowered")
        self.verdicts["zhengzhou-lowered-wallet"] = {"presented": again is not None}
        self.say(
            "   新批次等级 2，钱包拒绝出示（不泄露任何信息）/ the new batch is level 2; the "
            f"wallet shows nothing: {message.splitlines()[-1] if message else ''}"
        )

    def key_rotation(self) -> None:
        """Chapter 5: Nanjing's CA replaced in root v2 (3-of-5); the new key verifies."""
        self._chapter(
            "五、南京更换城市CA：联盟根第2版（5城3签），节点换新签名密钥",
            "5. Nanjing replaces its city CA: root version 2 (3-of-5), the node gets a new key",
        )
        old_path, _ = self.present("nanjing", "suzhou/library-card", "nanjing-old-key")
        kid = self.fed.rotate_ca("nanjing")
        self.say(
            f"   根 v2 由郑州、杭州、武汉签署；新密钥 kid {kid[:12]}…；信任包已重建 / root v2 "
            f"signed by Zhengzhou, Hangzhou, Wuhan; new kid; trust bundle rebuilt"
        )
        self.refresh("suzhou")
        if old_path is not None:
            self.say(
                "   更换CA（如疑似泄露）立即撤销对旧密钥的信任；日常的密钥轮换则让旧证明用到过期 / "
                "replacing a CA (say, a suspected compromise) withdraws trust in the old key at "
                "once; a routine key rotation keeps old attestations valid until they expire"
            )
            self.say("   旧密钥签发的证明 / an attestation signed with the retired key:")
            self._show(
                self.verify("suzhou", old_path, "suzhou/library-card", "nanjing-old-key"),
                expect="unknown_key",
            )
        self.fetch("nanjing")
        path, message = self.present("nanjing", "suzhou/library-card", "nanjing-new-key")
        if path is None:
            raise DemoError(f"the Nanjing wallet could not present: {message}")
        self.say("   新密钥签发的证明 / an attestation signed with the new key:")
        self._show(
            self.verify("suzhou", path, "suzhou/library-card", "nanjing-new-key"),
            expect="eligible",
        )

    def privacy(self) -> None:
        """Chapter 6: every response that left a node, scanned for residents' data."""
        exchanges = self.fed.proxy.recorded()
        outside = [e for e in exchanges if e.leaves_home]
        ids = {r.national_id for c in self.fed.cities.values() for r in c.residents}
        self.leaks = scan(
            outside,
            national_ids=ids,
            names=[p.name for p in self.people.values()],
            scores=[p.resident.score for p in self.people.values()] + [LOWERED_SCORE],
        )
        self._chapter("六、隐私核查", "6. Privacy check")
        own = sum(1 for e in exchanges if not e.leaves_home)
        self.say(
            f"   记录了 {len(exchanges)} 个节点响应，其中 {len(outside)} 个发往他方；"
            f"{own} 个只发往本人App或本市信用办（例外）"
        )
        self.say(
            f"   recorded {len(exchanges)} node responses: {len(outside)} to other parties, "
            f"{own} to the resident's own app or the home credit office (the exception)"
        )
        if self.leaks:
            raise DemoError(f"privacy invariant 1 broken: {self.leaks[:3]}")
        self.say(
            "   发往他方的响应中没有身份证号、姓名或精确分数 / no national ID, name or exact "
            "score in any of them"
        )


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
