"""`localhub pool share | status`: what this desktop offers the lab, within its owner's limits, and how the lab
looks from here. `pool status` asks the running hub, and browses the LAN itself for a moment when no hub runs
or it runs without its pool (and says which)."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import replace
from pathlib import Path

from ..errors import LocalhubError
from ..pool.host.share import Share, load_share, parse_hours, save_share
from ..pool.trust import keys
from ..profiles import format_size, parse_size
from .common import print_json, settings_from

NOT_RUNNING = "no hub runs for this state dir, so nothing is shared until `localhub up`"


def size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def hours_window(text: str) -> str:
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

    state = settings_from(args).state_dir
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

    state = settings_from(args).state_dir
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

