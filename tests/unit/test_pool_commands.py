"""`localhub pool init|join|share|status|forget` on a scratch state dir, and the node's combined state."""

from __future__ import annotations

import json
import re

import pytest

from localhub import cli
from localhub.pool.trust import keys
from localhub.pool.host.idle import IdleSources, ManualIdleSource
from localhub.pool.host.machine import Figures, read_figures
from localhub.pool.host.node import Node
from localhub.pool.host.share import Share, load_share, save_share
from localhub.pool.trust.members import load_membership, start_lab
from tests.unit.pool_fakes import new_lab

pytestmark = pytest.mark.unit


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = cli.main(["pool", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_init_starts_a_lab_held_by_this_desktop_and_says_how_to_add_one(tmp_path, capsys):
    a = str(tmp_path / "a")
    rc, out, _ = run(capsys, "init", "--state-dir", a)
    assert rc == 0 and "Started a new lab" in out and "`localhub pool invite`" in out
    rc, out, _ = run(capsys, "init", "--state-dir", a, "--json")
    again = json.loads(out)
    assert again["new"] is False and again["authority"] is True  # init shows the same lab again
    lab = load_membership(tmp_path / "a")
    assert lab.fingerprint == again["lab"] and lab.card.node == lab.node
    assert (tmp_path / "a" / "pool" / "lab-authority.key").stat().st_mode & 0o077 == 0


def test_join_names_a_malformed_code_and_guards_the_current_lab(tmp_path, capsys):
    for typed, said in (("37-K4QX", "looks like 37-K4QX-9M2T"), ("37-K4QX-9M2U", "never contains U")):
        rc, _, err = run(capsys, "join", "--state-dir", str(tmp_path), typed)
        assert rc == 1 and said in err and err.startswith("localhub: ")
    start_lab(tmp_path)
    rc, _, err = run(capsys, "join", "--state-dir", str(tmp_path), "37-k4qx-9m2t")  # lower case is fine
    assert rc == 1 and "add --replace" in err


def test_remove_needs_the_authority_and_a_node_id(tmp_path, capsys):
    authority, (founder, member) = new_lab(tmp_path, "a", "b")
    rc, _, err = run(capsys, "remove", "--state-dir", str(tmp_path / "b"), founder.node, "--interface", "127.0.0.1")
    assert rc == 1 and "Only the desktop that started the lab" in err
    rc, _, err = run(capsys, "remove", "--state-dir", str(tmp_path / "a"), "\x1b[31mx")
    assert rc == 1 and "is not a node id" in err and "\x1b" not in err
    rc, out, _ = run(capsys, "remove", "--state-dir", str(tmp_path / "a"), member.node, "--interface", "127.0.0.1")
    assert rc == 0 and f"Removed desktop {member.node}" in out
    assert load_membership(tmp_path / "a").is_revoked(member.node)


def test_share_on_and_off_keep_the_owners_limits(tmp_path, capsys):
    state = str(tmp_path)
    rc, _, err = run(capsys, "share", "on", "--state-dir", state)
    assert rc == 1 and "pool init" in err  # no lab yet
    start_lab(tmp_path)
    rc, out, _ = run(capsys, "share", "on", "--state-dir", state, "--cpus", "2", "--memory", "4G", "--disk",
                     "20G", "--hours", "18-08", "--assume-idle")
    assert rc == 0 and "up to 2 CPUs" in out and "from 18:00 to 08:00" in out and "A running hub picks this up" in out
    assert load_share(tmp_path) == Share(True, 2.0, 4 * 10**9, 20 * 10**9, "18-08", True)
    run(capsys, "share", "off", "--state-dir", state)
    assert load_share(tmp_path) == Share(False, 2.0, 4 * 10**9, 20 * 10**9, "18-08", True)
    run(capsys, "share", "on", "--state-dir", state, "--no-assume-idle")
    assert load_share(tmp_path) == Share(True, 2.0, 4 * 10**9, 20 * 10**9, "18-08", False)
    with pytest.raises(SystemExit):
        cli.main(["pool", "share", "on", "--state-dir", state, "--hours", "evening"])
    assert "whole hours" in capsys.readouterr().err


def test_status_outside_a_lab_and_inside_one(tmp_path, capsys):
    rc, out, _ = run(capsys, "status", "--state-dir", str(tmp_path), "--json")
    assert rc == 3 and json.loads(out)["lab"] is None
    start_lab(tmp_path)
    # browsing on loopback only: unit tests send nothing to any network
    rc, out, _ = run(capsys, "status", "--state-dir", str(tmp_path), "--json", "--interface", "127.0.0.1",
                     "--seconds", "0.3")
    data = json.loads(out)
    assert rc == 0 and data["lab"] == load_membership(tmp_path).fingerprint and data["peers"] == []
    assert data["this_desktop"]["state"] == "off" and "no hub runs for this state dir" in data["note"]
    rc, out, _ = run(capsys, "status", "--state-dir", str(tmp_path), "--interface", "127.0.0.1", "--seconds", "0.2")
    assert "This desktop (node" in out and ": off — sharing is off" in out and "none found" in out


def test_forget(tmp_path, capsys):
    keys.PeerPins(tmp_path).check("a" * 16, "x", "y")
    assert run(capsys, "forget", "a" * 16, "--state-dir", str(tmp_path))[0] == 0
    rc, _, err = run(capsys, "forget", "a" * 16, "--state-dir", str(tmp_path))
    assert rc == 1 and "No pinned peer" in err


FIG = Figures(cpus=4, load1=0.2, mem_total=8 * 10**9, mem_available=6 * 10**9, disk_free=50 * 2**30)


def node_state(tmp_path, share: Share, since_input=3600.0, figures=FIG):
    start_lab(tmp_path)
    save_share(tmp_path, share)
    node = Node(tmp_path, load_membership(tmp_path), IdleSources([ManualIdleSource(value=since_input)]),
                figures=lambda _: figures)
    return node.tick()


def test_node_state_combines_share_hours_policy_and_room(tmp_path):
    assert node_state(tmp_path, Share()).state == "off"
    assert node_state(tmp_path, Share(enabled=True)).state == "idle"
    assert node_state(tmp_path, Share(enabled=True), since_input=30).state == "owner"
    assert node_state(tmp_path, Share(enabled=True, memory=10**9)).reason.startswith("idle, but no room")
    import time
    hour = time.localtime().tm_hour
    closed = f"{(hour + 1) % 24}-{(hour + 2) % 24}"
    assert node_state(tmp_path, Share(enabled=True, hours=closed)).state == "off"


def test_live_figures_are_read(tmp_path):
    fig = read_figures(tmp_path)
    assert fig.cpus >= 1 and fig.mem_total > fig.mem_available > 0 and fig.disk_free > 0 and fig.load1 >= 0


def test_leave_without_a_hub_forgets_the_lab_but_never_what_is_still_out(tmp_path, capsys):
    from localhub.pool.away.ledger import Away, Ledger

    rc, _, err = run(capsys, "leave", "--state-dir", str(tmp_path))
    assert rc == 1 and "in no lab yet" in err
    start_lab(tmp_path)
    keys.PeerPins(tmp_path).check("a" * 16, "x", "y")
    save_share(tmp_path, Share(enabled=True))
    ledger = Ledger(tmp_path)
    ledger.put(Away(guest="0" * 16, user="ana", server="thesis", volume="v", image="i", state="returning",
                    peer={"node": "b" * 16, "address": "10.0.0.3", "port": 8470, "cert": "c", "name": "bob"}))
    rc, _, err = run(capsys, "leave", "--state-dir", str(tmp_path))
    assert rc == 1 and "stays in lab" in err and "still out on lab peers (thesis)" in err
    ledger.remove("0" * 16)
    (tmp_path / "pool" / "guests.json").write_text(json.dumps([{
        "id": "1" * 16, "hub_node": "c" * 16, "server": "bea/big", "image": "sha256:1", "cpus": 1, "memory": 1,
        "storage": 1, "hub": ["10.0.0.4", 8768], "state": "evicted"}]))
    rc, _, err = run(capsys, "leave", "--state-dir", str(tmp_path))
    assert rc == 1 and "guest server(s) of other desktops are here (bea/big)" in err and "share off" in err
    (tmp_path / "pool" / "guests.json").write_text("[]")
    fingerprint = load_membership(tmp_path).fingerprint
    rc, out, _ = run(capsys, "leave", "--state-dir", str(tmp_path))
    assert rc == 0 and f"left lab {fingerprint}" in out
    assert not (tmp_path / "pool" / "membership.json").exists() and keys.PeerPins(tmp_path).load() == {}
    assert load_share(tmp_path) == Share()
    assert run(capsys, "status", "--state-dir", str(tmp_path), "--json")[0] == 3  # in no lab now
