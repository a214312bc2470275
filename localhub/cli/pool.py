"""`localhub pool init | invite | join | remove | share | status | forget | leave`: start or join a lab (a short
code from `invite`, typed into `join`), remove a desktop from it, decide what this desktop shares,
look at the lab, leave it. These work whether or not a hub runs. `pool status` asks the running hub, and
browses the LAN itself for a moment when no hub runs or it runs without its pool (and says which). What the
running daemon writes (the peers' pins, the lab's files on leaving) goes through it while it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path

from ..config import load_settings
from ..errors import LocalhubError
from ..pool.host.share import Share, load_share, parse_hours, save_share
from ..pool.trust import keys
from ..profiles import format_size, parse_size
from .common import print_json

NOT_RUNNING = "no hub runs for this state dir, so nothing is shared until `localhub up`"


def _state_dir(args) -> Path:
    return load_settings(state_dir=getattr(args, "state_dir", None)).state_dir


# --- lab membership --------------------------------------------------------------------------------

def cmd_init(args) -> int:
    from ..pool.trust import members

    state = _state_dir(args)
    made = not members.in_a_lab(state) or args.new_key
    if made:
        if members.in_a_lab(state):
            keys.PeerPins(state).clear()  # pins belong to the old lab
        members.start_lab(state)
    lab = members.load_membership(state)
    authority = members.Authority.load(state) is not None
    if args.json:
        print_json({"lab": lab.fingerprint, "node": lab.node, "new": made, "authority": authority})
        return 0
    print(("Started a new lab" if made else "This desktop's lab") + f" (fingerprint {lab.fingerprint}).")
    if authority:
        print("To add a desktop, run `localhub pool invite` here and type the short code it prints into "
              "`localhub pool join CODE` on that desktop.")
    print("A running hub takes part from its next start (`localhub restart`).")
    return 0


def _address(args) -> str:
    from ..pool.member import choose_address

    settings = load_settings(state_dir=getattr(args, "state_dir", None))
    address = getattr(args, "address", None) or choose_address(settings)
    if not address:
        raise LocalhubError("No LAN address found (only loopback, Docker bridges or tunnels); set pool_address "
                            "or give --address.")
    return address


def cmd_invite(args) -> int:
    import time

    from ..pool.discovery import new_zeroconf
    from ..pool.trust import members, pairing
    from ..pool.trust.tls import ensure_certificate, server_context

    state = _state_dir(args)
    lab = members.load_membership(state)
    authority = members.Authority.load(state)
    if authority is None:
        raise LocalhubError("Only the desktop that started the lab holds its authority and can invite; run "
                            "`localhub pool invite` there.")
    if not 0 < args.minutes <= 60:
        raise LocalhubError("An invitation lasts between a few seconds and 60 minutes (--minutes).")
    address = _address(args)
    settings = load_settings(state_dir=getattr(args, "state_dir", None))
    cert_path, key_path, cert = ensure_certificate(state, lab.node)
    nameplate, password = pairing.new_code()
    invitation = pairing.Invitation(authority, lab, cert, address, settings.pool_port, nameplate, password,
                                    expires=time.time() + args.minutes * 60)

    async def serve() -> str | None:
        azc = new_zeroconf([address])
        try:
            return await pairing.serve_invitation(invitation, settings.pool_port + 1,
                                                  server_context(cert_path, key_path), azc)
        finally:
            await azc.async_close()

    code = pairing.format_code(nameplate, password)
    if args.json:  # one line: whoever reads it learns the code before the wait begins
        print(json.dumps({"code": code, "expires": invitation.expires, "lab": lab.fingerprint}), flush=True)
    else:
        print(f"On the desktop to add, run:\n\n    localhub pool join {code}\n\nThe code works once, for "
              f"{args.minutes:g} min, on this LAN; waiting for the desktop to join… (Ctrl-C stops)")
    sys.stdout.flush()
    joined = asyncio.run(serve())
    if joined:
        print(f"Desktop {joined} joined lab {lab.fingerprint}.")
        return 0
    why = invitation.why_closed() or "it expired"
    raise LocalhubError(f"No desktop joined: {why}.")


def cmd_join(args) -> int:
    from ..pool.discovery import new_zeroconf
    from ..pool.trust import members, pairing

    state = _state_dir(args)
    code = " ".join(args.code)
    pairing.parse_code(code)  # a malformed code is said before anything else
    if members.in_a_lab(state) and not args.replace:
        current = members.load_membership(state)
        raise LocalhubError(f"This desktop is already in lab {current.fingerprint}; add --replace to leave it "
                            "for the lab that invited it.")
    address = _address(args)

    async def pair():
        azc = new_zeroconf([address])
        try:
            return await pairing.join(state, code, azc)
        finally:
            await azc.async_close()

    if members.in_a_lab(state):
        keys.PeerPins(state).clear()
    joined = asyncio.run(pair())
    if args.json:
        print_json({"lab": joined.lab, "node": joined.node, "joined": True})
        return 0
    print(f"Joined lab {joined.lab} as node {joined.node}. `localhub pool share on` offers this desktop's idle "
          "time to the lab; `localhub pool status` shows the lab. A running hub takes part from its next start "
          "(`localhub restart`).")
    return 0


def cmd_remove(args) -> int:
    from ..pool.trust import members

    import re

    from ..errors import shown

    if not re.fullmatch(r"[0-9a-f]{16}", args.node):
        raise LocalhubError(f"'{shown(args.node)}' is not a node id (16 hex digits, as `localhub pool status` "
                            "lists them).")
    state = _state_dir(args)
    lab = members.load_membership(state)
    hub = _running_hub(state)
    if hub:
        done = hub.remove_member(args.node)
    else:
        authority = members.Authority.load(state)
        if authority is None:
            raise LocalhubError("Only the desktop that started the lab (it holds the lab's authority) can remove a "
                                "desktop; run `localhub pool remove` there.")
        already = args.node in lab.revocations.nodes
        if not already:
            lab.accept_revocations(authority.revoke(lab.revocations, args.node))
        done = {"node": args.node, "serial": lab.revocations.serial, "already": already,
                "told": 0 if already else asyncio.run(_tell(state, lab, args.interface))}
    if args.json:
        print_json({"lab": lab.fingerprint, **done})
        return 0
    if done["already"]:
        print(f"Desktop {args.node} was already removed from lab {lab.fingerprint}.")
        return 0
    print(f"Removed desktop {args.node} from lab {lab.fingerprint}: {done['told']} peer(s) refuse it now; the "
          "others learn it from any member within seconds.")
    return 0


async def _tell(state: Path, lab, interface: str | None) -> int:
    from ..pool.away.monitor import PeerMonitor
    from ..pool.discovery import lan_addresses

    addresses = [interface] if interface else lan_addresses()
    if not addresses:
        return 0
    monitor = PeerMonitor(lab, addresses, keys.PeerPins(state), every=3600, timeout=2.0)
    await monitor.start()
    try:
        await asyncio.sleep(2.0)
        return await monitor.pass_on()
    finally:
        await monitor.stop()


def cmd_forget(args) -> int:
    state = _state_dir(args)
    hub = _running_hub(state)
    if hub.forget_peer(args.node) if hub else keys.PeerPins(state).forget(args.node):
        if args.json:
            print_json({"forgot": args.node})
            return 0
        print(f"Forgot peer {args.node}; the certificate it announces next is trusted and pinned again.")
        return 0
    raise LocalhubError(f"No pinned peer has node id {args.node}; `localhub pool status` lists peers.")


def cmd_leave(args) -> int:
    from ..pool.member import forget_lab, why_not_leave

    from ..pool.trust.members import load_membership

    state = _state_dir(args)
    lab = load_membership(state)  # "in no lab yet" when there is nothing to leave
    hub = _running_hub(state)
    if hub:
        hub.leave_pool()  # the daemon stops its part in the lab first, and says why not if it cannot
    else:
        why = why_not_leave(state)
        if why:
            raise LocalhubError(f"This desktop stays in lab {lab.fingerprint}: {why}.")
        forget_lab(state)
    if args.json:
        print_json({"left": lab.fingerprint, "hub_running": bool(hub)})
        return 0
    print(f"This desktop left lab {lab.fingerprint}" + (" (its hub runs on without the pool)" if hub else "")
          + "; `localhub pool join CODE` or `pool init` joins one again.")
    return 0


def _running_hub(state: Path):
    """A client of the hub running for this state dir, or None."""
    from ..client import Client, NotRunning

    try:
        return Client(state, timeout=60)
    except NotRunning:
        return None


# --- sharing ---------------------------------------------------------------------------------------

def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _hours(text: str) -> str:
    try:
        parse_hours(text)
    except LocalhubError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text.strip()


def describe_share(share: Share, limits: dict) -> str:
    hours = f"from {share.hours.replace('-', ':00 to ')}:00" if share.hours else "at any hour"
    return (f"up to {limits['cpus']:g} CPUs, {format_size(limits['memory'])} memory, "
            f"{format_size(limits['storage'])} disk, {hours}")


def cmd_share(args) -> int:
    from ..pool.host.idle import default_sources
    from ..pool.host.machine import read_figures

    from ..pool.trust.members import load_membership

    state = _state_dir(args)
    load_membership(state)  # sharing means nothing outside a lab: say so now
    share = load_share(state)
    changes = {k: v for k, v in (("cpus", args.cpus), ("memory", args.memory), ("disk", args.disk),
                                 ("hours", args.hours), ("assume_idle", args.assume_idle)) if v is not None}
    share = replace(share, enabled=args.switch == "on", **changes)
    save_share(state, share)
    if args.json:
        reading = default_sources(state).read() if share.enabled else None
        print_json({"enabled": share.enabled, "limits": share.limits(read_figures(state)), "hours": share.hours,
                    "assume_idle": share.assume_idle,
                    "owner_input": None if reading is None else {"source": reading.source, "seconds": reading.seconds}})
        return 0
    if share.enabled:
        print(f"This desktop is shared with its lab: {describe_share(share, share.limits(read_figures(state)))}, "
              "once its owner has been away 15 min and other load is at most 0.3 per core.")
        reading = default_sources(state).read()
        if reading.seconds is None and not share.assume_idle:
            print(f"Owner input: {reading.source}, so the desktop counts as in use and accepts no guests; "
                  "`localhub pool share on --assume-idle` shares it anyway.")
        else:
            print(f"Owner input is read from: {reading.source}.")
        print("A running hub picks this up within seconds; `localhub up` starts one.")
    else:
        print("This desktop is no longer shared; peers see it as 'off'.")
    return 0


# --- status ----------------------------------------------------------------------------------------

async def _look(state: Path, lab, seconds: float, interface: str | None) -> dict:
    from ..pool.discovery import lan_addresses
    from ..pool.away.monitor import PeerMonitor

    addresses = [interface] if interface else lan_addresses()
    if not addresses:
        return {"addresses": [], "peers": [], "others": {}}
    monitor = PeerMonitor(lab, addresses, keys.PeerPins(state), every=3600, timeout=2.0)
    await monitor.start()
    try:
        await asyncio.sleep(seconds)
        await monitor.check_all()
    finally:
        await monitor.stop()
    peers = [v.to_dict() for v in monitor.views.values()]
    return {"addresses": addresses, "peers": sorted(peers, key=lambda p: p["name"]), "others": monitor.others}


def cmd_status(args) -> int:
    from ..pool.host.node import Node

    from ..pool.trust.members import load_membership

    state = _state_dir(args)
    try:
        lab = load_membership(state)
    except LocalhubError as err:
        if args.json:
            print_json({"lab": None, "message": str(err)})
        else:
            print(str(err))
        return 3
    daemon = _daemon_view(state)
    away = []
    if daemon and "off" not in daemon:
        mine, away = daemon["this_desktop"], daemon["away"]
        found = {"addresses": [daemon["address"]], "peers": sorted(daemon["peers"], key=lambda p: p["name"]),
                 "others": {}}
        note = f"as this desktop's hub sees them on {daemon['address']}"
    else:
        mine = Node(state, lab).status()
        found = asyncio.run(_look(state, lab, args.seconds, args.interface))
        why = NOT_RUNNING if daemon is None else (f"this desktop's hub runs without its pool ({daemon['off']}), so "
                                                 "nothing is shared until `localhub restart`")
        note = f"found by browsing for {args.seconds:g} s on {', '.join(found['addresses']) or 'no LAN address'}; " \
               f"{why}"
    if args.json:
        print_json({"lab": lab.fingerprint, "node": lab.node, "this_desktop": mine, **found, "away": away,
                     "note": note})
        return 0
    print(f"This desktop (node {lab.node}, lab {lab.fingerprint}): {mine['state']} — {mine['reason']}")
    share, fig = mine["sharing"], mine["figures"]
    if share["enabled"]:
        print(f"  shares {describe_share(Share(**{k: v for k, v in share.items() if k != 'limits'}), share['limits'])}"
              f"; room for {mine['slots']} default server(s)")
    idle = mine["idle"]
    print("  owner input: " + (f"{idle['seconds']:.0f} s ago" if idle["seconds"] is not None else "unknown")
          + f" (source: {idle['source']})")
    print(f"  free now: {fig['free_cpus']:g} of {fig['cpus']} CPUs, {format_size(fig['mem_available'])} memory, "
          f"{format_size(fig['disk_free'])} disk")
    print(f"Peers ({note}):")
    if not found["peers"]:
        print("  none found")
    for p in found["peers"]:
        if p["live"] is None:
            print(f"  {p['name'].split('.')[0]:<28} {p['address']}:{p['port']:<6} unreachable — {p['error']}")
            continue
        f = p["live"]["figures"]
        print(f"  {p['name'].split('.')[0]:<28} {p['address']}:{p['port']:<6} {p['state']:<6} "
              f"{f['free_cpus']:g} CPUs, {format_size(f['mem_available'])} free, {p['live']['slots']} slot(s), "
              f"{len(p['live']['guests'])} guest(s)")
    for name, why in found["others"].items():
        print(f"  (not listed: {name.split('.')[0]} — {why})")
    if mine.get("guests"):
        print("Guests on this desktop:")
        for g in mine["guests"]:
            print(f"  {g['server']:<28} {g['state']:<8} {g['cpus']:g} CPUs, {format_size(g['memory'])}"
                  + (f" — {g['notice']}" if g.get("notice") else ""))
    if away:
        print("Servers of this hub on peers:")
        for a in away:
            print(f"  {a['server']:<28} {a['state']:<9} on {a['peer'].get('name') or a['peer']['node']}"
                  + (f" — {a['notice']}" if a.get("notice") else ""))
    return 0


def _daemon_view(state: Path) -> dict | None:
    """The running hub's view of the lab ({"off": why} when it runs without its pool), or None when no hub
    runs for this state dir."""
    from ..client import Client, NotRunning

    try:
        return Client(state, timeout=10).pool()
    except NotRunning:
        return None
    except LocalhubError as err:
        return {"off": f"it did not answer: {err}"}


# --- wiring ----------------------------------------------------------------------------------------

def register(subparsers, common_parent: argparse.ArgumentParser, json_parent: argparse.ArgumentParser) -> None:
    pool = subparsers.add_parser("pool", help="share idle desktops with your lab").add_subparsers(
        dest="pool_command", metavar="ACTION", required=True)

    init = pool.add_parser("init", parents=[common_parent, json_parent],
                           help="start a lab (or show this desktop's); this desktop holds its authority")
    init.add_argument("--new-key", action="store_true",
                      help="start a new lab in place of this desktop's (every other desktop must join again)")
    init.set_defaults(func=cmd_init)

    invite = pool.add_parser("invite", parents=[common_parent, json_parent],
                             help="print a short code that lets one desktop join, and wait for it")
    invite.add_argument("--minutes", type=float, default=10.0, help="how long the code works (default 10)")
    invite.add_argument("--address", help="LAN address to wait on (default: found automatically)")
    invite.set_defaults(func=cmd_invite)

    join = pool.add_parser("join", parents=[common_parent, json_parent],
                           help="join a lab with a code from `pool invite`")
    join.add_argument("code", nargs="+", help="the code `localhub pool invite` printed, e.g. 37-K4QX-9M2T")
    join.add_argument("--replace", action="store_true", help="leave this desktop's current lab")
    join.add_argument("--address", help="LAN address to look on (default: found automatically)")
    join.set_defaults(func=cmd_join)

    remove = pool.add_parser("remove", parents=[common_parent, json_parent],
                             help="remove a desktop from the lab: every peer refuses it within seconds")
    remove.add_argument("node", help="the desktop's node id (`localhub pool status` lists them)")
    remove.add_argument("--interface", help="LAN address to tell peers on (default: found automatically)")
    remove.set_defaults(func=cmd_remove)

    share = pool.add_parser("share", parents=[common_parent, json_parent],
                            help="offer this desktop's idle time to the lab, within your limits")
    share.add_argument("switch", choices=["on", "off"], help="on: share this desktop; off: stop sharing")
    share.add_argument("--cpus", type=float, help="most CPUs guests may use (default: half the cores)")
    share.add_argument("--memory", type=_size, help="most memory guests may use, e.g. 4G (default: half)")
    share.add_argument("--disk", type=_size, help="most disk guests may use, e.g. 20G (default 20 GiB)")
    share.add_argument("--hours", type=_hours, help="share only in this daily window, e.g. 18-08 (default: always)")
    share.add_argument("--assume-idle", action=argparse.BooleanOptionalAction, default=None,
                       help="when no idle source can be read, treat the owner as away (default: as present)")
    share.set_defaults(func=cmd_share)

    status = pool.add_parser("status", parents=[common_parent, json_parent],
                             help="this desktop's state and the lab peers on the LAN")
    status.add_argument("--seconds", type=float, default=2.0, help="how long to listen for peers (default 2)")
    status.add_argument("--interface", help="LAN address to look on (default: found automatically)")
    status.set_defaults(func=cmd_status)

    forget = pool.add_parser("forget", parents=[common_parent, json_parent], help="drop a peer's pinned certificate")
    forget.add_argument("node", help="the peer's node id")
    forget.set_defaults(func=cmd_forget)

    leave = pool.add_parser("leave", parents=[common_parent, json_parent],
                            help="leave the lab (refused while servers are out on peers or guests are here)")
    leave.set_defaults(func=cmd_leave)
