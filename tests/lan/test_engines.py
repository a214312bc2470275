"""Docker engines of the simulated LAN's hosts, for real: two of them beside the main engine, each with its own
data root and containers; an image copied from the main engine runs on a host, publishes a port on the
host's LAN address that another host reaches, and connects out to another host (masqueraded as its host);
a stopped engine leaves no process, cgroup or exec root and its namespace can go; a crashed run's
leftovers are cleared by the next start."""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import docker
import pytest

from tests.lan.engines import CACHE, MAIN_ENGINE, SHIM_SOCKETS, NamespaceEngine

pytestmark = [pytest.mark.lan, pytest.mark.docker]

IMAGE = "localhub/singleuser:test"
HUB, PEER = "hub", "peer"  # roles: cached data roots under CACHE, shared with test_pool_remote.py
LABEL = {"localhub.test": "engines"}


def report(text: str) -> None:
    print(f"\n[engines] {text}", flush=True)


def in_ns(host, *command: str) -> str:
    done = subprocess.run(["ip", "netns", "exec", host.ns, *command], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"{command} in {host.ns}: {done.stderr}"
    return done.stdout


@pytest.fixture
def main_engine():
    client = docker.DockerClient(base_url=MAIN_ENGINE, timeout=60)
    yield client
    client.close()


def test_two_engines_side_by_side_with_the_main_one(lan, main_engine):
    hub_host, peer_host = lan.add_host("hub"), lan.add_host("peer")
    hub, peer = lan.engine(hub_host, HUB), lan.engine(peer_host, PEER)
    report(f"engines answered after {hub.started_in:.1f} s (hub) and {peer.started_in:.1f} s (peer)")
    for engine in hub, peer:
        engine.load_image(IMAGE)
        assert engine.client.info()["DockerRootDir"] == str(CACHE / engine.role)
        # its docker0 and its iptables chains are in its host's namespace
        assert "inet 172.17.0.1/16" in in_ns(engine.host, "ip", "-4", "addr", "show", "docker0")
        assert "-N DOCKER" in in_ns(engine.host, "iptables", "-t", "nat", "-S")
    assert main_engine.info()["DockerRootDir"] == "/var/lib/docker"

    on_hub = hub.client.containers.run(IMAGE, ["sleep", "120"], detach=True, labels=LABEL)
    on_peer = peer.client.containers.run(IMAGE, ["sleep", "120"], detach=True, labels=LABEL)
    assert [c.id for c in hub.client.containers.list()] == [on_hub.id]
    assert [c.id for c in peer.client.containers.list()] == [on_peer.id]
    # (other test runs may add and remove containers of the main engine meanwhile: only ours are checked)
    assert not {on_hub.id, on_peer.id} & {c.id for c in main_engine.containers.list(all=True)}
    # the container's network namespace is its engine's: its default route leads to that host's docker0
    on_peer.reload()
    assert on_peer.attrs["NetworkSettings"]["Gateway"] == "172.17.0.1"


def test_a_loaded_image_publishes_on_the_lan_and_reaches_other_hosts(lan):
    hub_host, peer_host = lan.add_host("hub"), lan.add_host("peer")
    peer = lan.engine(peer_host, PEER)
    seconds = peer.load_image(IMAGE)
    report(f"{IMAGE} into '{PEER}': {'already there' if seconds == 0 else f'loaded in {seconds:.1f} s'}")
    assert peer.load_image(IMAGE) == 0.0  # same id: skipped
    assert in_ns(peer_host, "cat", "/proc/sys/net/ipv4/ip_forward").strip() == "1"

    server = peer.client.containers.run(IMAGE, ["python3", "-m", "http.server", "8888"], detach=True,
                                        labels=LABEL, ports={"8888/tcp": (peer_host.address, 8888)})
    fetched = lan.run(hub_host, "-c", """if True:
        import sys, time, urllib.request
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(sys.argv[1], timeout=3) as answer:
                    print(answer.status, answer.read().decode()[:200]); break
            except OSError as err:
                if time.monotonic() > deadline: sys.exit(f"no answer from {sys.argv[1]}: {err}")
                time.sleep(0.3)
        """, f"http://{peer_host.address}:8888/")
    assert fetched.returncode == 0, fetched.stderr + server.logs().decode()
    assert fetched.stdout.startswith("200 ") and "Directory listing" in fetched.stdout
    nat = in_ns(peer_host, "iptables", "-t", "nat", "-S", "DOCKER")
    assert f"-d {peer_host.address}/32" in nat and "--dport 8888" in nat
    root_nat = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True).stdout
    assert peer_host.address not in root_nat  # the root namespace's rules are untouched

    listener = lan.python(hub_host, "-c", """if True:
        import json, socket, sys
        with socket.create_server((sys.argv[1], 0)) as server:
            print(json.dumps({"event": "listening", "port": server.getsockname()[1]}), flush=True)
            connection, (address, port) = server.accept()
            print(json.dumps({"event": "connected", "from": address, "said": connection.recv(100).decode()}))
        """, hub_host.address, label="hub:listener")
    port = listener.wait_for(lambda e: e["event"] == "listening", 15, "listening")["port"]
    client = peer.client.containers.run(
        IMAGE, ["python3", "-c", f"import socket; socket.create_connection(('{hub_host.address}', {port}), 5)"
                                 ".sendall(b'hello from a container')"], detach=True, labels=LABEL)
    assert client.wait(timeout=30)["StatusCode"] == 0, client.logs().decode()
    connected = listener.wait_for(lambda e: e["event"] == "connected", 15, "the container's connection")
    assert connected == {**connected, "from": peer_host.address, "said": "hello from a container"}


def test_a_stopped_engine_leaves_nothing_and_its_namespace_can_go(lan):
    host = lan.add_host("peer")
    peer = lan.engine(host, PEER)
    peer.load_image(IMAGE)
    peer.client.containers.run(IMAGE, ["sleep", "300"], detach=True, labels=LABEL,
                               ports={"8888/tcp": (host.address, 8888)})
    running = peer.processes()
    commands = " ".join(running.values())
    assert "dockerd" in commands and "containerd-shim" in commands and "docker-proxy" in commands, running
    # its mounts (overlays, netns bind mounts) live in its own mount namespace, none in ours
    mount_ns = _inode(f"/proc/{peer.process.pid}/ns/mnt")
    assert mount_ns != _inode("/proc/self/ns/mnt")
    ours = Path("/proc/self/mountinfo").read_text()
    assert str(peer.data_root) not in ours and str(peer.run_dir) not in ours
    net_ns = Path(f"/run/netns/{host.ns}").stat().st_ino

    began = time.monotonic()
    peer.stop()
    report(f"'{PEER}' stopped in {time.monotonic() - began:.1f} s")
    assert peer.processes() == {}
    assert not peer.run_dir.exists() and not peer.pidfile.exists()
    assert peer.cgroups() == []
    with open(peer.lock_path) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released
    holders = [p.name for p in Path("/proc").glob("[0-9]*")
               if _inode(f"{p}/ns/net") == net_ns or _inode(f"{p}/ns/mnt") == mount_ns]
    assert not holders, f"processes still in the engine's namespaces: {holders}"
    subprocess.run(["ip", "netns", "del", host.ns], check=True)
    lan.namespaces.remove(host.ns)
    assert (CACHE / PEER / "image").is_dir()  # the data root (and its images) stays cached


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def test_the_next_start_clears_what_a_crashed_run_left(lan):
    host = lan.add_host("peer")
    # a run that dies without cleaning up: its dockerd is SIGKILLed first (no orderly shutdown), then itself
    crashing = lan.python(host, "-c", """if True:
        import json, sys, time
        from pathlib import Path
        from tests.lan.engines import NamespaceEngine
        from tests.lan.netns import Host
        engine = NamespaceEngine(Host("peer", sys.argv[1], sys.argv[2], Path(sys.argv[3])), Path(sys.argv[3]),
                                 sys.argv[4]).start()
        engine.load_image(sys.argv[5])
        container = engine.client.containers.run(sys.argv[5], ["sleep", "300"], detach=True,
                                                 ports={"8888/tcp": (sys.argv[2], 8888)})
        print(json.dumps({"event": "ready", "dockerd": engine.process.pid, "run_dir": str(engine.run_dir),
                          "container": container.id}))
        time.sleep(300)
        """, host.ns, host.address, str(host.state_dir), PEER, IMAGE, label="peer:crashing")
    ready = crashing.wait_for(lambda e: e["event"] == "ready", 120, "the crashing run's engine")
    os.kill(ready["dockerd"], signal.SIGKILL)
    crashing.popen.kill()
    crashing.popen.wait(5)
    old = NamespaceEngine(host, lan.root, PEER)
    old.run_dir = Path(ready["run_dir"])
    left = old.processes()
    assert "containerd-shim" in " ".join(left.values()) and Path(ready["run_dir"]).is_dir(), left
    address = f"{ready['run_dir']}/containerd/containerd.sock/{old.containerd_namespace}/{ready['container']}"
    shim_socket = SHIM_SOCKETS / hashlib.sha256(address.encode()).hexdigest()
    assert shim_socket.exists()

    began = time.monotonic()
    peer = lan.engine(host, PEER)
    report(f"'{PEER}' restarted over a crashed run's leftovers in {time.monotonic() - began:.1f} s")
    assert not set(left) & set(old.processes()), "a process of the crashed run survived"
    assert not Path(ready["run_dir"]).exists() and not shim_socket.exists()
    assert peer.client.containers.list(all=True) == []  # the crashed run's container is gone with it
    check = peer.client.containers.run(IMAGE, ["true"], detach=True, labels=LABEL,
                                       ports={"8888/tcp": (host.address, 8888)})  # the port is free again
    assert check.wait(timeout=30)["StatusCode"] == 0
