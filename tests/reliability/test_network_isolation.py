"""What a local server can reach on the network (issue 10, item 11), tried from inside a real server of a
real hub: its hub's API and DNS and the internet yes; this desktop's services (on its gateway, on another
Docker bridge, on its LAN address), other servers, a private LAN and the cloud metadata address no.

"Outside" is a network namespace this test makes, reached through a veth pair: 10.250.7.2 stands for a LAN
host (private), 169.254.169.254 for the metadata service and 198.51.100.2 for the internet. Nothing leaves
this machine. The same probes are made once with the hub's rules taken away, to show they are what blocks.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from localhub import isolation
from localhub.hub.network import isolate, network_name

pytestmark = [pytest.mark.reliability, pytest.mark.docker]

NS = f"lhiso{os.getpid() % 100000}"
VETH = f"lhv{os.getpid() % 100000}"
LAN, METADATA, INTERNET = "10.250.7.2", "169.254.169.254", "198.51.100.2"
PORT = 18777

PROBE = """
import json, socket, sys
results = {}
for host, port in json.loads(sys.argv[1]):
    try:
        socket.create_connection((host, port), timeout=1.5).close()
        results[f"{host}:{port}"] = True
    except OSError:
        results[f"{host}:{port}"] = False
print(json.dumps(results))
"""


def run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")


@pytest.fixture(scope="module")
def outside():
    """A namespace behind a veth pair holding a LAN host, the metadata address and an 'internet' address,
    each listening on PORT (and the LAN host on 53, a DNS server's port)."""
    why = isolation.why_unavailable()
    if why or os.geteuid() != 0:
        pytest.skip(f"needs root and iptables ({why or 'not root'})")
    run("ip", "netns", "add", NS)
    try:
        run("ip", "link", "add", VETH, "type", "veth", "peer", "name", "eth0", "netns", NS)
        run("ip", "addr", "add", "10.250.7.1/24", "dev", VETH)
        run("ip", "link", "set", VETH, "up")
        for address in (f"{LAN}/24", f"{METADATA}/32", f"{INTERNET}/32"):
            run("ip", "-n", NS, "addr", "add", address, "dev", "eth0")
        run("ip", "-n", NS, "link", "set", "eth0", "up")
        run("ip", "-n", NS, "link", "set", "lo", "up")
        run("ip", "-n", NS, "route", "add", "default", "via", "10.250.7.1")
        for address in (METADATA, INTERNET):
            run("ip", "route", "add", f"{address}/32", "via", LAN)
        listener = subprocess.Popen(["ip", "netns", "exec", NS, sys.executable, "-c", (
            "import socket, threading\n"
            "def serve(port):\n"
            "    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "    s.bind(('0.0.0.0', port)); s.listen(50)\n"
            "    while True: s.accept()[0].close()\n"
            f"threading.Thread(target=serve, args=(53,), daemon=True).start()\n"
            f"serve({PORT})\n")])
        yield
        listener.kill()
    finally:
        subprocess.run(["ip", "link", "del", VETH], capture_output=True)  # its routes go with it
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)


@pytest.fixture(scope="module")
def host_service():
    """A service of this desktop listening on every address."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", PORT))
    server.listen(50)

    def serve():
        while True:
            try:
                server.accept()[0].close()
            except OSError:
                return
    threading.Thread(target=serve, daemon=True).start()
    yield
    server.close()


def test_a_server_reaches_its_hub_dns_and_the_internet_and_nothing_else(hub_factory, outside, host_service):
    hub = hub_factory.start("netpolicy")
    hub.cli("servers", "new", "probe")
    hub.cli("servers", "new", "neighbour")
    runtime = json.loads((hub.state_dir / "runtime.json").read_text())
    gateway, hub_port = runtime["gateway"], hub.port + 3
    (probe,) = [c for c in hub.containers(all=False) if c.name.endswith("--probe")]
    (neighbour,) = [c for c in hub.containers(all=False) if c.name.endswith("--neighbour")]
    neighbour_ip = next(iter(neighbour.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
    lan_address = next(a for a in _host_addresses() if not a.startswith(("127.", "172.17.")))

    expected = {
        (gateway, hub_port): True,  # its hub's API
        (LAN, 53): True,  # a DNS server on the LAN
        (INTERNET, PORT): True,  # the internet
        (gateway, PORT): False,  # a desktop service, on the hub's own gateway
        ("172.17.0.1", PORT): False,  # … on another bridge's gateway (where other hubs' APIs live)
        (lan_address, PORT): False,  # … on the desktop's LAN address
        (neighbour_ip, 8888): False,  # another server of the same hub
        (LAN, PORT): False,  # a host on a private LAN
        (METADATA, PORT): False,  # the cloud metadata address
    }

    def reach() -> dict:
        answer = probe.exec_run(["python3", "-c", PROBE, json.dumps(list(expected))])
        return {tuple(k.rsplit(":", 1)): v for k, v in json.loads(answer.output).items()}

    network = hub_network(hub)
    isolation.remove(hub.instance, isolation.bridge_of(network))
    open_ = reach()
    assert all(open_.values()), f"without the rules everything is reachable (the test's own check): {open_}"

    assert isolate(_docker(), hub.instance, (gateway, hub_port)) is None
    got = reach()
    print("\nFIGURE network policy from inside a server:")
    for (host, port), allowed in expected.items():
        print(f"  {host}:{port:<6} {'reached' if got[(host, str(port))] else 'blocked'}")
    assert {(h, int(p)): v for (h, p), v in got.items()} == expected

    hub.cli("down")
    rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
    assert f"LOCALHUB-{hub.instance}" not in rules  # `down` took the rules away with the network


def hub_network(hub) -> dict:
    return _docker().networks.get(network_name(hub.instance)).attrs


def _docker():
    import docker

    return docker.from_env()


def _host_addresses() -> list[str]:
    import ifaddr

    return [ip.ip for adapter in ifaddr.get_adapters() if not adapter.nice_name.startswith(("br-", "lh-", "veth"))
            for ip in adapter.ips if isinstance(ip.ip, str)]
