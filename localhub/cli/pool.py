"""`localhub pool init | invite | join | remove | share | status | forget | leave`: start or join a lab (a short
code from `invite`, typed into `join`), remove a desktop from it, leave it; what this desktop shares and how
the lab looks are `pool_share.py`'s. These work whether or not a hub runs. What the running daemon writes (the
peers' pins, the lab's files on leaving) goes through it while it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from ..config import load_settings
from ..errors import LocalhubError
from ..pool.trust import keys
from .common import print_json, settings_from
from .pool_share import cmd_share, cmd_status, hours_window, size

# --- lab membership --------------------------------------------------------------------------------

def cmd_init(args) -> int:
    from ..pool.trust import members

    state = settings_from(args).state_dir
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

    state = settings_from(args).state_dir
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

    state = settings_from(args).state_dir
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
    state = settings_from(args).state_dir
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
    state = settings_from(args).state_dir
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

    state = settings_from(args).state_dir
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
    share.add_argument("--memory", type=size, help="most memory guests may use, e.g. 4G (default: half)")
    share.add_argument("--disk", type=size, help="most disk guests may use, e.g. 20G (default 20 GiB)")
    share.add_argument("--hours", type=hours_window, help="share only in this daily window, e.g. 18-08 (default: always)")
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
