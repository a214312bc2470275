"""Discovery by real multicast between network namespaces: found with its TXT (and how fast), other labs and
impostors not listed, TXT updates arrive, a clean shutdown removes the peer."""

from __future__ import annotations

import signal
import time

import pytest

pytestmark = pytest.mark.lan


def browse(lan, host, seconds=60):
    proc = lan.python(host, "-m", "localhub.pool.discovery", "browse", "--state-dir", str(host.state_dir),
                      "--events", "--seconds", str(seconds))
    proc.wait_for(lambda e: e["event"] == "browsing", 30, "browsing event")
    return proc


def test_a_new_peer_is_found_with_its_txt(lan, tools):
    a, b, c = lan.add_host("a"), lan.add_host("b"), lan.add_host("c")
    tools.new_lab(a, b, c)
    early = browse(lan, b)

    tools.cli(a, "share", "on", "--cpus", "1", "--memory", "2G", "--disk", "4G")
    tools.owner_away(a)
    launched = time.time()
    service, listening = tools.serve(a)
    registered = service.wait_for(lambda e: e["event"] == "registered", 30, "registration")
    added = early.wait_for(lambda e: e["event"] == "added", 30, "the new peer")
    peer = added["peer"]
    assert (peer["address"], peer["port"], peer["node"], peer["cert"]) == \
        (a.address, listening["port"], listening["node"], listening["cert"])
    txt = peer["txt"]
    assert txt["txtvers"] == "1" and txt["state"] == "idle" and txt["slots"] == "1" and txt["gpu"] == "0"
    assert len(txt["fp"]) == 16 and txt["node"] == listening["node"]

    # a browser that starts after the peer registered gets it from the peer's answer to its query
    late = browse(lan, c)
    late_added = late.wait_for(lambda e: e["event"] == "added", 30, "the existing peer")
    print(f"\ndiscovery: found by a running browser {added['at'] - launched:.2f} s after the peer's process "
          f"started, {added['at'] - listening['at']:.2f} s after its agent listened (registration with "
          f"probing took {registered['took']:.2f} s); "
          f"a late browser found it {late_added['since_start'] * 1000:.0f} ms after it started")
    assert added["at"] - launched < 10
    assert late_added["since_start"] < 2


def test_peers_of_another_lab_and_impostors_are_not_listed(lan, tools):
    a, b, c, d = (lan.add_host(n) for n in "abcd")
    tools.new_lab(a, c)
    tools.new_lab(b)  # a different lab
    for host in (a, b):
        tools.cli(host, "share", "on", "--cpus", "1", "--memory", "2G", "--disk", "4G")
        tools.owner_away(host)
        tools.serve(host)
    ours = tools.cli(a, "init", "--json")
    import json
    fingerprint = json.loads(ours)["lab"]
    impostor = lan.python(d, "-m", "tests.lan.probe", "impostor", "--address", d.address, "--port", "8470",
                          "--fingerprint", fingerprint)
    impostor.wait_for(lambda e: e["event"] == "registered", 30, "the impostor's registration")

    watcher = browse(lan, c, seconds=4)
    final = watcher.wait_for(lambda e: e["event"] == "peers", 30, "the final list")
    assert [p["address"] for p in final["peers"]] == [a.address]
    others = {name.split(".")[0]: why for name, why in final["others"].items()}
    assert others["desk-b-" + tools_node(b)].startswith("another lab")
    assert others["impostor"] == "claims this lab but its tag does not verify with the lab key"


def tools_node(host) -> str:
    import json
    return json.loads((host.state_dir / "pool" / "node.json").read_text())["node"]


def test_a_peer_with_a_new_certificate_is_not_trusted_until_forgotten(lan, tools):
    a, b = lan.add_host("a"), lan.add_host("b")
    tools.new_lab(b, a)
    service, first = tools.sharing_node(a)
    seen = browse(lan, b, seconds=3).wait_for(lambda e: e["event"] == "peers", 30, "the first list")
    assert [p["cert"] for p in seen["peers"]] == [first["cert"]]  # pinned now, in b's peers.json
    service.stop()
    for name in ("tls.crt", "tls.key"):
        (a.state_dir / "pool" / name).unlink()  # reinstalled
    # its member card names the old certificate: it cannot take part until the lab certifies the new one
    refused = lan.run(a, "-m", "localhub.pool.host.service", "--state-dir", str(a.state_dir))
    assert refused.returncode == 1 and "member card is for another node or certificate" in refused.stderr
    code, invite = tools.invite(b)
    tools.cli(a, "join", code, "--replace")
    _, second = tools.serve(a)
    assert second["cert"] != first["cert"] and second["node"] == first["node"]
    refused = browse(lan, b, seconds=3).wait_for(lambda e: e["event"] == "peers", 30, "the second list")
    assert refused["peers"] == []
    [why] = refused["others"].values()
    assert "was first seen with" in why and f"localhub pool forget {first['node']}" in why
    tools.cli(b, "forget", first["node"])
    again = browse(lan, b, seconds=3).wait_for(lambda e: e["event"] == "peers", 30, "the list after forget")
    assert [p["cert"] for p in again["peers"]] == [second["cert"]]


def test_txt_update_arrives_and_clean_shutdown_removes_the_peer(lan, tools):
    a, b = lan.add_host("a"), lan.add_host("b")
    tools.new_lab(a, b)
    watcher = browse(lan, b)
    service, _ = tools.sharing_node(a)
    added = watcher.wait_for(lambda e: e["event"] == "added", 30, "the peer")
    assert added["peer"]["state"] == "idle"
    time.sleep(2.5)  # past the TXT rate limit, so the update's delay below is the reading's, not the limit's

    touched = time.time()
    tools.owner_away(a, seconds=0)  # the owner touches the desktop (through the idle-source interface)
    service.wait_for(lambda e: e["event"] == "state" and e["state"] == "owner", 10, "the owner state")
    update = watcher.wait_for(lambda e: e["event"] == "updated" and e["peer"]["state"] == "owner", 10,
                              "the TXT update")
    print(f"\nowner input -> TXT state 'owner' seen by a peer: {update['at'] - touched:.2f} s "
          "(tick 0.5 s, TXT interval 2 s)")
    assert update["peer"]["slots"] == 0

    stopped = time.time()
    service.signal(signal.SIGTERM)
    removed = watcher.wait_for(lambda e: e["event"] == "removed", 10, "the removal")
    assert service.popen.wait(10) == 0
    print(f"clean shutdown -> removed at the peer: {(removed['at'] - stopped) * 1000:.1f} ms")
    assert removed["peer"]["node"] == added["peer"]["node"]


def test_txt_updates_are_rate_limited_and_the_last_state_wins(lan, tools):
    a, b = lan.add_host("a"), lan.add_host("b")
    tools.new_lab(a, b)
    watcher = browse(lan, b)
    service, _ = tools.sharing_node(a)
    watcher.wait_for(lambda e: e["event"] == "added", 30, "the peer")
    for _ in range(6):  # the owner comes and goes faster than the TXT may change
        tools.owner_away(a, seconds=0)
        time.sleep(0.6)
        tools.owner_away(a, seconds=3600)
        time.sleep(0.6)
    tools.owner_away(a, seconds=0)  # and finally stays
    last = service.wait_for(lambda e: e["event"] == "state" and e["state"] == "owner" and e["at"] > time.time() - 1,
                            5, "the final owner state")
    watcher.drain(4)
    updates = [e for e in watcher.events if e["event"] == "updated"]
    times = [e["at"] for e in updates]
    gaps = [y - x for x, y in zip(times, times[1:])]
    print(f"\n{len(updates)} TXT updates for ~8 s of flapping; gaps {', '.join(f'{g:.2f}' for g in gaps)} s")
    assert len(updates) >= 3 and all(g > 1.8 for g in gaps)  # --txt-interval 2
    assert updates[-1]["peer"]["state"] == last["state"] == "owner"  # nothing stale left behind
    assert [int(e["peer"]["txt"]["seq"]) for e in updates] == list(range(1, len(updates) + 1))
