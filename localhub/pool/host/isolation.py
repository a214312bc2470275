"""Keeping guests to themselves: a guest container reaches its own hub and the internet, never this desktop's
LAN addresses, its host services (the agent, the owner's own hub, anything listening) or other guests.

Guests run on one Docker bridge, `localhub-guests` (Linux bridge `lhguests0`, inter-container traffic off).
Two iptables chains in this desktop's network namespace hold the rules, rebuilt whole whenever the set of
hubs in use changes:

    INPUT  -i lhguests0 -> LOCALHUB-GUEST-IN:  answers to connections we made pass; everything else dropped
    DOCKER-USER -i lhguests0 -> LOCALHUB-GUEST-OUT:  answers pass; each guest's own hub (address and API
        port) passes; every private, link-local and shared address range is dropped; the internet passes

Without iptables (not installed, or no permission) isolation cannot be enforced, and the agent refuses
guests with that reason rather than run them open to the owner's network.
"""

from __future__ import annotations

import shutil
import subprocess

NETWORK = "localhub-guests"
BRIDGE = "lhguests0"
CHAIN_IN = "LOCALHUB-GUEST-IN"
CHAIN_OUT = "LOCALHUB-GUEST-OUT"
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10", "127.0.0.0/8")


class IsolationError(Exception):
    pass


def _iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise IsolationError(f"iptables {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done


def ensure_network(client) -> str:
    """The guests' bridge network (made once); returns its name."""
    if not client.networks.list(names=[NETWORK]):
        client.networks.create(NETWORK, driver="bridge", labels={"localhub.pool": "guests"}, options={
            "com.docker.network.bridge.name": BRIDGE,
            "com.docker.network.bridge.enable_icc": "false",
        })
    return NETWORK


def why_unavailable() -> str | None:
    """None when rules can be applied here; otherwise why not, in one phrase."""
    if not shutil.which("iptables"):
        return "iptables is not installed, so guest isolation cannot be enforced"
    done = _iptables("-L", "DOCKER-USER", "-n", check=False)
    if done.returncode != 0:
        return f"iptables cannot be changed here ({done.stderr.strip() or 'no permission'})"
    return None


def _chain(name: str) -> None:
    if _iptables("-n", "-L", name, check=False).returncode != 0:
        _iptables("-N", name)
    _iptables("-F", name)


def _jump(parent: str, chain: str) -> None:
    rule = ("-i", BRIDGE, "-j", chain)
    if _iptables("-C", parent, *rule, check=False).returncode != 0:
        _iptables("-I", parent, "1", *rule)


def apply(hubs: set[tuple[str, int]]) -> None:
    """Rebuild both chains for the hubs (address, API port) whose guests run here."""
    _chain(CHAIN_IN)
    _iptables("-A", CHAIN_IN, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN")
    _iptables("-A", CHAIN_IN, "-j", "DROP")
    _jump("INPUT", CHAIN_IN)

    _chain(CHAIN_OUT)
    _iptables("-A", CHAIN_OUT, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN")
    for address, port in sorted(hubs):
        _iptables("-A", CHAIN_OUT, "-d", address, "-p", "tcp", "--dport", str(port), "-j", "RETURN")
    for network in PRIVATE:
        _iptables("-A", CHAIN_OUT, "-d", network, "-j", "DROP")
    _jump("DOCKER-USER", CHAIN_OUT)
