"""Finding lab peers on the LAN with mDNS/DNS-SD (`_localhub._tcp`), and announcing this desktop.

The TXT record is small and coarse (txtvers, version, state, slots, gpu, an update counter, lab
fingerprint, node id, certificate fingerprint, and a tag): live figures and liveness come from the peer's agent, because a
crashed peer stays in mDNS caches until its records expire (75 min for TXT). The tag is an HMAC with the lab
key over node id and certificate fingerprint: the lab fingerprint alone is public and could be copied by
anyone, the tag cannot, so only lab members are listed. Copying a member's whole TXT gains nothing either:
the agent's TLS certificate must match the advertised fingerprint (tls.py).

Updates are coalesced to at most one per `min_interval` seconds. Only LAN addresses are announced: Docker
bridges, VPN tunnels and loopback are left out by name, and so are addresses inside Docker's networks.

    python -m localhub.pool.discovery browse --state-dir DIR [--seconds 3] [--events] [--interface ADDR]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import signal
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import ifaddr
from zeroconf import IPVersion, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from .. import __version__
from .entry import run_main
from .trust.keys import Lab, PeerPins, PinMismatch

log = logging.getLogger("localhub.pool.discovery")

SERVICE_TYPE = "_localhub._tcp.local."
TXT_BUDGET = 400  # DESIGN.md: well under this; a one-packet record keeps announcements cheap
EXCLUDED_NAMES = ("lo", "docker", "br-", "virbr", "vnet", "tun", "tap", "wg", "tailscale", "zt", "cni",
                  "flannel", "cali", "vboxnet", "vmnet", "utun", "ppp", "nordlynx")


def txt_tag(lab, node: str, cert: str) -> str:
    """The record's proof of membership: in the pool, the lab authority's signature over node and certificate
    (trust/members.py: `lab.txt_tag`); for a group sharing one key (a workshop's class), an HMAC with it."""
    if hasattr(lab, "txt_tag"):
        return lab.txt_tag(node, cert)
    return hmac.new(lab.key, f"localhub-txt-v1\n{node}\n{cert}".encode(), hashlib.sha256).hexdigest()[:16]


def tag_holds(lab, node: str, cert: str, tag: str) -> bool:
    if hasattr(lab, "check_tag"):
        return lab.check_tag(node, cert, tag)
    return hmac.compare_digest(tag, txt_tag(lab, node, cert))


def build_txt(lab: Lab, cert: str, state: str, slots: int, gpu: bool, seq: int = 0) -> dict[str, str]:
    # `seq` changes with every update. Without it, a TXT that returns to a value browsers saw a few seconds
    # earlier (idle -> owner -> idle) still sits in their caches, and python-zeroconf fires no Updated for
    # a record it already holds: the peer would keep showing the stale state (seen in tests/lan).
    return {"txtvers": "1", "v": __version__, "state": state, "slots": str(int(slots)), "gpu": "1" if gpu else "0",
            "seq": str(seq), "fp": lab.fingerprint, "node": lab.node, "cert": cert,
            "tag": txt_tag(lab, lab.node, cert)}


def txt_size(txt: dict[str, str]) -> int:
    """Bytes on the wire: each `key=value` string with its length byte, as DNS-SD encodes it."""
    return sum(1 + len(f"{k}={v}".encode()) for k, v in txt.items())


# --- which addresses are the LAN -------------------------------------------------------------------

def docker_networks() -> list[str]:
    """Subnets of the local Docker engine's networks; empty when no local engine answers (over a unix
    socket only: asking a remote engine would be network traffic the pool has no business making)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return []
    try:
        import docker

        client = docker.DockerClient(base_url=host, timeout=2)
        nets = client.networks.list()
    except Exception:  # no engine is a normal case for a desktop that only browses
        return []
    return [c["Subnet"] for n in nets for c in (n.attrs.get("IPAM") or {}).get("Config") or [] if c.get("Subnet")]


def lan_addresses(adapters=None, exclude_networks: list[str] | None = None) -> list[str]:
    """IPv4 addresses of this machine's LAN interfaces (see the module docstring for what is left out)."""
    adapters = ifaddr.get_adapters() if adapters is None else adapters
    excluded = [ipaddress.ip_network(n, strict=False) for n in (docker_networks() if exclude_networks is None
                                                                else exclude_networks)]
    found = []
    for adapter in adapters:
        if adapter.nice_name.startswith(EXCLUDED_NAMES):
            continue
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):
                continue  # IPv6: not announced yet (the agent listens on one IPv4 address)
            addr = ipaddress.ip_address(ip.ip)
            if addr.is_loopback or addr.is_link_local or any(n.version == 4 and addr in n for n in excluded):
                continue
            found.append(ip.ip)
    return found


def new_zeroconf(addresses: list[str]) -> AsyncZeroconf:
    return AsyncZeroconf(interfaces=addresses, ip_version=IPVersion.V4Only)


# --- announcing ------------------------------------------------------------------------------------

class Advertiser:
    """This desktop's record. `set()` changes fields; changes reach the network at most every
    `min_interval` seconds, the latest values winning. `service_type` is the pool's unless a subclass (the
    workshop's class) announces another."""

    service_type = SERVICE_TYPE

    def __init__(self, azc: AsyncZeroconf, lab: Lab, cert: str, address: str, port: int,
                 min_interval: float = 5.0, label: str | None = None):
        self.azc, self.lab, self.cert, self.min_interval = azc, lab, cert, min_interval
        label = re.sub(r"[^A-Za-z0-9-]+", "-", label or socket.gethostname()).strip("-")[:40] or "desktop"
        # the whole node id: two desktops with the same host name never claim the same name (a collision would
        # make the later one's registration fail, or rename it behind the lab's back)
        self.name, self.address, self.port = f"{label}-{lab.node}.{self.service_type}", address, port
        self.fields = {"state": "owner", "slots": 0, "gpu": False}
        self.seq = 0
        self._sent = dict(self.fields)
        self.info = self._info()
        self._last = 0.0
        self._pending: asyncio.Task | None = None

    def _info(self, seq: int = 0) -> AsyncServiceInfo:
        txt = build_txt(self.lab, self.cert, **self.fields, seq=seq)
        assert txt_size(txt) < TXT_BUDGET, txt
        return AsyncServiceInfo(self.service_type, self.name, port=self.port, properties=txt,
                                server=f"localhub-{self.lab.node}.local.", parsed_addresses=[self.address])

    async def start(self, **fields) -> None:
        self.fields.update(fields)
        self._sent = dict(self.fields)
        self.info = self._info()
        # register returns a task that must itself be awaited (NOTES.md): then probing and announcing are done
        await (await self.azc.async_register_service(self.info))
        self._last = time.monotonic()

    def set(self, **fields) -> None:
        if all(self.fields.get(k) == v for k, v in fields.items()):
            return
        self.fields.update(fields)
        if self._pending is None or self._pending.done():
            self._pending = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        # A loop, not one send: changes made while an update is still being announced (that takes a
        # while) must go out too, at the next allowed moment.
        while self.fields != self._sent:
            await asyncio.sleep(max(0.0, self._last + self.min_interval - time.monotonic()))
            if self.fields == self._sent:
                return  # changed and changed back within the interval: nothing to tell
            self._last = time.monotonic()
            self.seq += 1
            self._sent = dict(self.fields)
            self.info = self._info(self.seq)  # a new info under the same name replaces the registered one
            await (await self.azc.async_update_service(self.info))

    async def stop(self) -> None:
        if self._pending and not self._pending.done():
            self._pending.cancel()
        await (await self.azc.async_unregister_service(self.info))  # sends the goodbye


# --- browsing --------------------------------------------------------------------------------------

@dataclass
class Peer:
    name: str
    node: str
    address: str
    port: int
    state: str
    slots: int
    gpu: bool
    version: str
    cert: str
    txt: dict = field(default_factory=dict)
    seen: float = 0.0  # time.time() of the last record

    def to_dict(self) -> dict:
        return asdict(self)


def _decode(props: dict) -> dict[str, str]:
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode(errors="replace") if isinstance(v, bytes) else
                                                          (v or "")) for k, v in props.items()}


class PeerBrowser:
    """A live view of lab peers: `peers` (name -> Peer) holds members only; `others` says in one phrase why
    each other `_localhub` record is not listed. `on_change(event, peer)` gets added, updated, removed."""

    service_type = SERVICE_TYPE

    def __init__(self, azc: AsyncZeroconf, lab: Lab, pins: PeerPins | None = None,
                 on_change: Callable[[str, Peer], None] | None = None):
        self.azc, self.lab, self.pins, self.on_change = azc, lab, pins, on_change
        self.peers: dict[str, Peer] = {}
        self.others: dict[str, str] = {}
        self._browser: AsyncServiceBrowser | None = None
        self._tasks: dict[str, asyncio.Task] = {}

    async def start(self) -> None:
        self._browser = AsyncServiceBrowser(self.azc.zeroconf, self.service_type, handlers=[self._on_state])

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        if self._browser:
            await self._browser.async_cancel()

    def _on_state(self, zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Removed:
            task = self._tasks.pop(name, None)
            if task:
                task.cancel()
            self.others.pop(name, None)
            peer = self.peers.pop(name, None)
            if peer and self.on_change:
                self.on_change("removed", peer)
            return
        previous = self._tasks.get(name)
        if previous and not previous.done():
            previous.cancel()
        self._tasks[name] = asyncio.ensure_future(self._resolve(name))

    async def _resolve(self, name: str) -> None:
        info = AsyncServiceInfo(self.service_type, name)
        if not await info.async_request(self.azc.zeroconf, 3000):
            log.info("could not resolve %s", name)
            return
        txt = _decode(info.properties or {})
        addresses = info.parsed_addresses(IPVersion.V4Only)
        why = self._refusal(txt, addresses)
        if why:
            self.others[name] = why
            if self.peers.pop(name, None) and self.on_change:
                self.on_change("removed", Peer(name, txt.get("node", ""), "", 0, "", 0, False, "", ""))
            return
        try:
            slots = int(txt.get("slots", "0"))
        except ValueError:
            slots = 0
        peer = Peer(name=name, node=txt["node"], address=addresses[0], port=info.port or 0,
                    state=txt.get("state", "?"), slots=slots, gpu=txt.get("gpu") == "1", version=txt.get("v", "?"),
                    cert=txt["cert"], txt=txt, seen=time.time())
        if self.pins:
            try:
                self.pins.check(peer.node, self.lab.fingerprint, peer.cert, address=peer.address, name=name)
            except PinMismatch as err:
                self.others[name] = str(err)
                self.peers.pop(name, None)
                return
        event = "updated" if name in self.peers else "added"
        self.others.pop(name, None)
        self.peers[name] = peer
        if self.on_change:
            self.on_change(event, peer)

    def _refusal(self, txt: dict[str, str], addresses: list[str]) -> str | None:
        if txt.get("fp") != self.lab.fingerprint:
            return f"another lab (key fingerprint {txt.get('fp') or 'none'})"
        node, cert = txt.get("node", ""), txt.get("cert", "")
        if not tag_holds(self.lab, node, cert, txt.get("tag", "")):
            return "claims this lab but its tag does not verify with the lab key"
        if node == self.lab.node:
            return "this desktop itself"
        if getattr(self.lab, "is_revoked", lambda n: False)(node):
            return "removed from this lab"
        if not addresses:
            return "no IPv4 address"
        return None


# --- command line (for tests and for looking by hand) ---------------------------------------------

async def _browse(args) -> int:
    from .trust.members import load_membership

    lab = load_membership(args.state_dir)
    addresses = [args.interface] if args.interface else lan_addresses()
    azc = new_zeroconf(addresses)
    started = time.time()

    def emit(event: str, peer: Peer) -> None:
        if args.events:
            print(json.dumps({"event": event, "at": time.time(), "since_start": round(time.time() - started, 4),
                              "peer": peer.to_dict()}), flush=True)

    browser = PeerBrowser(azc, lab, PeerPins(args.state_dir), on_change=emit)
    await browser.start()
    if args.events:
        print(json.dumps({"event": "browsing", "at": started, "addresses": addresses}), flush=True)
    try:
        await until_stopped(args.seconds)
    finally:
        await browser.stop()
        await azc.async_close()
    print(json.dumps({"event": "peers", "at": time.time(), "peers": [p.to_dict() for p in browser.peers.values()],
                      "others": browser.others}), flush=True)
    return 0


async def until_stopped(seconds: float) -> None:
    """Sleep `seconds`, or less if SIGTERM/SIGINT come first (then the final summary is still printed)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localhub.pool.discovery")
    sub = parser.add_subparsers(dest="command", required=True)
    browse = sub.add_parser("browse", help="list lab peers found on the LAN")
    browse.add_argument("--state-dir", required=True)
    browse.add_argument("--seconds", type=float, default=3.0, help="how long to listen (default 3)")
    browse.add_argument("--events", action="store_true", help="print each change as a JSON line")
    browse.add_argument("--interface", help="LAN address to browse on (default: found automatically)")
    args = parser.parse_args(argv)
    return run_main(_browse(args))


if __name__ == "__main__":
    sys.exit(main())
