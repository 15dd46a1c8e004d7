"""``huxin demo --serve``: what to try next against the running federation.

What it does: :func:`print_playground` prints each node's URL and process id, a credential for
each role of each city, the files a merchant needs, and example commands (wallet, verify,
curl); :func:`wait_forever` sleeps until Ctrl-C (or SIGTERM, which the CLI turns into one).

What it deliberately does not do: stop anything (the CLI's ``finally`` does).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from node.demo.federation import DemoFederation


def print_playground(fed: DemoFederation, *, say: Callable[[str], None] = print) -> None:
    """Print URLs, credentials and example commands for the running federation."""
    say("")
    say("节点运行中（Ctrl-C 停止全部进程）/ nodes running (Ctrl-C stops every process):")
    for city, c in fed.cities.items():
        child = fed.supervisor.children.get(city)
        pid = child.pid if child is not None else "-"
        say(f"  {c.label:<14} {c.url}  (node :{c.port}, pid {pid}, data {c.node_dir})")
    say("")
    say("凭据（演示用）/ credentials (demo only):")
    for city, c in fed.cities.items():
        for role, token in c.credentials.items():
            say(f"  {city:<10} {role:<9} {token}")
    say("")
    zz, hz = fed.city("zhengzhou"), fed.city("hangzhou")
    story = {r.national_id for people in fed.extra.values() for r in people}
    resident = next(
        r for r in zz.residents if r.national_id not in story and zz.scale.level_of(r.score) >= 4
    )
    bundle, root = fed.bundle_path, fed.pinned_root_path
    cache = fed.base / "merchant-status"
    say("试试 / try next:")
    say(f"  # 市民 citizen: a Zhengzhou resident (synthetic ID {resident.national_id})")
    say(
        f"  curl -s -X POST {zz.url}/v1/residents/consent -H 'Authorization: Bearer "
        f'{zz.credentials["app"]}\' -d \'{{"national_id": "{resident.national_id}", '
        f'"granted": true}}\''
    )
    say(f"  export HUXIN_WALLET={fed.base / 'my-wallet'}")
    say("  huxin wallet init")
    say(
        f"  HUXIN_NATIONAL_ID={resident.national_id} huxin wallet fetch --node {zz.url} "
        f"--credential {zz.credentials['app']}"
    )
    say("  huxin wallet show")
    say(
        f"  huxin wallet present --for hangzhou/library-card --bundle {bundle} --root {root} "
        f"--out p.txt"
    )
    say("  # 商户 merchant (offline):")
    say(f"  huxin verify --refresh-status --bundle {bundle} --root {root} --status-cache {cache}")
    say(
        f"  huxin verify p.txt --bundle {bundle} --root {root} --status-cache {cache} "
        "--incentive hangzhou/library-card"
    )
    say("  # 节点 node (public federation material; merchants' online check):")
    say(f"  curl -s {hz.url}/.well-known/huxin-node")
    say(f"  curl -s {hz.url}/incentives")
    say(f"  curl -s {zz.url}/status/1")
    say(
        f"  curl -s -X POST {zz.url}/v1/verify -H 'Authorization: Bearer "
        f"{zz.credentials['merchant']}' -d '{{\"presentation\": \"'$(cat p.txt)'\", "
        '"audience": "urn:huxin:incentive:hangzhou/library-card"}\''
    )


def wait_forever(*, tick: float = 1.0) -> None:
    """Sleep until interrupted (KeyboardInterrupt propagates to the caller)."""
    while True:
        time.sleep(tick)
