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

pytestmark = pytest.mark.unit


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = cli.main(["pool", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_init_prints_a_code_that_join_accepts(tmp_path, capsys):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    rc, out, _ = run(capsys, "init", "--state-dir", a)
    assert rc == 0 and "Started a new lab" in out
    code = re.search(r"localhub pool join (\S+)", out)[1]
    rc, out, _ = run(capsys, "init", "--state-dir", a, "--json")
    again = json.loads(out)
    assert again["pairing_code"] == code and again["new"] is False  # init shows the same lab again
    assert (tmp_path / "a" / "pool" / "tls.crt").exists()
    rc, out, _ = run(capsys, "join", "--state-dir", b, *code.split("-"))
    assert rc == 0 and f"Joined lab {again['lab']}" in out
    assert keys.read_key(tmp_path / "b") == keys.read_key(tmp_path / "a")
    rc, out, _ = run(capsys, "join", "--state-dir", b, code)
    assert rc == 0 and "already in lab" in out


def test_join_names_the_typo_and_guards_the_current_lab(tmp_path, capsys):
    code = keys.pairing_code(b"k" * 32)
    groups = code.split("-")
    groups[2] = groups[2][:3] + ("X" if groups[2][3] != "X" else "Y") + groups[2][4:]
    rc, _, err = run(capsys, "join", "--state-dir", str(tmp_path), "-".join(groups))
    assert rc == 1 and "typo in group 3" in err and err.startswith("localhub: ")
    run(capsys, "join", "--state-dir", str(tmp_path), code)
    other = keys.pairing_code(b"o" * 32)
    rc, _, err = run(capsys, "join", "--state-dir", str(tmp_path), other)
    assert rc == 1 and "add --replace" in err
    keys.PeerPins(tmp_path).check("a" * 16, "x", "y")
    rc, out, _ = run(capsys, "join", "--state-dir", str(tmp_path), other, "--replace")
    assert rc == 0 and keys.read_key(tmp_path) == b"o" * 32 and keys.PeerPins(tmp_path).load() == {}


def test_share_on_and_off_keep_the_owners_limits(tmp_path, capsys):
    state = str(tmp_path)
    rc, _, err = run(capsys, "share", "on", "--state-dir", state)
    assert rc == 1 and "pool init" in err  # no lab yet
    keys.store_key(tmp_path, b"k" * 32)
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
    keys.store_key(tmp_path, b"k" * 32)
    # browsing on loopback only: unit tests send nothing to any network
    rc, out, _ = run(capsys, "status", "--state-dir", str(tmp_path), "--json", "--interface", "127.0.0.1",
                     "--seconds", "0.3")
    data = json.loads(out)
    assert rc == 0 and data["lab"] == keys.fingerprint(b"k" * 32) and data["peers"] == []
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
    keys.store_key(tmp_path, b"k" * 32)
    save_share(tmp_path, share)
    node = Node(tmp_path, keys.load_lab(tmp_path), IdleSources([ManualIdleSource(value=since_input)]),
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
    keys.store_key(tmp_path, b"k" * 32)
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
    rc, out, _ = run(capsys, "leave", "--state-dir", str(tmp_path))
    assert rc == 0 and f"left lab {keys.fingerprint(b'k' * 32)}" in out
    assert keys.read_key(tmp_path) is None and keys.PeerPins(tmp_path).load() == {}
    assert load_share(tmp_path) == Share()
    assert run(capsys, "status", "--state-dir", str(tmp_path), "--json")[0] == 3  # in no lab now
