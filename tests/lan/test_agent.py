"""The agent across namespaces: a member's signed requests answered (and the answers verified); unsigned,
other-lab, wrong-key, tampered, stale and replayed requests refused with their reasons; liveness from the
agent: a killed peer stays in mDNS caches but is unreachable within seconds."""

from __future__ import annotations

import json
import signal
import time

import pytest

pytestmark = pytest.mark.lan


def test_signed_requests_accepted_and_forged_ones_refused(lan, tools):
    a, b = lan.add_host("a"), lan.add_host("b")
    tools.new_lab(a, b)
    service, listening = tools.sharing_node(a)
    done = lan.run(b, "-m", "tests.lan.probe", "attack", "--state-dir", str(b.state_dir), "--address", a.address,
                   "--port", str(listening["port"]), "--node", listening["node"], "--cert", listening["cert"])
    assert done.returncode == 0, done.stderr
    r = json.loads(done.stdout)
    assert r["member-status"]["state"] == "idle" and r["member-status"]["idle"]["seconds"] >= 3590
    assert r["member-status"]["idle"]["source"].startswith("manual (")
    assert r["member-offer"]["small"]["accept"] is True
    assert r["member-offer"]["too-big"] == {"accept": False, "reason": "asks 64 CPUs; the owner shares 1 CPUs"}
    assert r["first-use"]["status"] == 200 and r["first-use"]["verified"]
    for case, status, reason in (("unsigned", 401, "unsigned"), ("other-lab", 403, "other-lab"),
                                 ("wrong-key", 403, "bad-signature"), ("tampered-body", 401, "body-altered"),
                                 ("replayed", 401, "replayed"), ("stale", 401, "stale")):
        assert (r[case]["status"], r[case]["reason"]) == (status, reason), (case, r[case])
        # refusals are signed too, for the nonce and sender the request named: the member can trust the reason
        assert r[case]["verified"] == (case != "unsigned"), case
    assert "not authentic" in r["client-with-wrong-key"]["error"]
    service.stop()
    log = service.log.read_text()
    for code in ("unsigned", "other-lab", "bad-signature", "body-altered", "replayed", "stale"):
        assert f"from {b.address} (claims node" in log and f": {code} — " in log, code


def monitor(lan, host, seconds=120):
    proc = lan.python(host, "-m", "localhub.pool.away.monitor", "--state-dir", str(host.state_dir), "--every", "0.5",
                      "--timeout", "1", "--seconds", str(seconds))
    proc.wait_for(lambda e: e["event"] == "watching", 30, "watching event")
    return proc


def test_killed_peer_stays_in_mdns_but_its_agent_is_unreachable_within_seconds(lan, tools):
    a, b = lan.add_host("a"), lan.add_host("b")
    tools.new_lab(a, b)
    watch = monitor(lan, b)
    service, _ = tools.sharing_node(a)
    watch.wait_for(lambda e: e["event"] == "reachable", 30, "a reachable peer")

    killed = time.time()
    service.signal(signal.SIGKILL)  # no goodbye: mDNS caches keep the record
    gone = watch.wait_for(lambda e: e["event"] == "unreachable", 10, "the unreachable verdict")
    print(f"\nSIGKILL -> agent check fails at the peer: {gone['at'] - killed:.2f} s ({gone['peer']['error']})")
    assert gone["at"] - killed < 3
    # refused; or, when the kill caught a check in flight, reset (the request unread) or closed without an answer
    in_flight = ("Connection reset", "Server disconnected without sending a response")
    assert "Connection refused" in gone["peer"]["error"] or any(e in gone["peer"]["error"] for e in in_flight)
    later = watch.drain(5)
    assert not [e for e in later if e["event"] == "removed"]  # still cached by mDNS...
    watch.signal(signal.SIGTERM)
    final = watch.wait_for(lambda e: e["event"] == "peers", 10, "the final list")
    [peer] = final["peers"]
    assert peer["advertised_state"] == "idle" and peer["state"] == "unreachable"  # ...but known to be dead


def test_hung_or_cut_off_peer_is_unreachable_within_the_timeout(lan, tools):
    a, b = lan.add_host("a"), lan.add_host("b")
    tools.new_lab(a, b)
    watch = monitor(lan, b)
    service, _ = tools.sharing_node(a)
    watch.wait_for(lambda e: e["event"] == "reachable", 30, "a reachable peer")

    stopped = time.time()
    service.signal(signal.SIGSTOP)  # hung: the kernel still accepts the connection, nobody answers
    hung = watch.wait_for(lambda e: e["event"] == "unreachable", 10, "the hung verdict")
    print(f"\nSIGSTOP -> unreachable after {hung['at'] - stopped:.2f} s ({hung['peer']['error']})")
    assert "did not answer within 1 s" in hung["peer"]["error"]
    service.signal(signal.SIGCONT)
    watch.wait_for(lambda e: e["event"] == "reachable", 10, "recovery after SIGCONT")

    cut = time.time()
    lan.link(a, up=False)  # the cable pulled (or the desktop powered off)
    dark = watch.wait_for(lambda e: e["event"] == "unreachable", 10, "the cut-off verdict")
    print(f"link down -> unreachable after {dark['at'] - cut:.2f} s ({dark['peer']['error']})")
    lan.link(a, up=True)
    watch.wait_for(lambda e: e["event"] == "reachable", 15, "recovery after the link came back")


def test_pool_status_lists_peers_with_live_figures(lan, tools):
    a, b, c, d = (lan.add_host(n) for n in "abcd")
    tools.new_lab(a, b, c, d)
    tools.sharing_node(a)
    _, blocked = tools.sharing_node(c)
    lan.block_tcp(c, blocked["port"])  # its mDNS still answers, its agent does not
    killed, _ = tools.sharing_node(d)
    killed.signal(signal.SIGKILL)  # dead before anyone cached it: a fresh browser never sees it
    killed.popen.wait(5)
    data = json.loads(tools.cli(b, "status", "--json", "--seconds", "2"))
    assert data["addresses"] == [b.address]  # found the namespace's LAN address by itself
    peers = {p["address"]: p for p in data["peers"]}
    assert set(peers) == {a.address, c.address}
    assert peers[a.address]["state"] == "idle" and peers[a.address]["live"]["figures"]["cpus"] >= 1
    assert peers[a.address]["live"]["idle"]["seconds"] >= 3590
    assert peers[c.address]["state"] == "unreachable" and peers[c.address]["advertised_state"] == "idle"
    assert "Connection refused" in peers[c.address]["error"]
    text = tools.cli(b, "status", "--seconds", "2")
    print("\n" + text)
    assert "unreachable" in text and " idle " in text and "no hub runs for this state dir" in text
