"""Keeping servers to themselves on the network: the one policy for every container localhub runs — a hub's
own servers and a lab's guests alike.

A Docker bridge does not stop a container from reaching the host's own addresses (the hub's internal API,
other hubs' APIs, any service listening on 0.0.0.0, the LAN address), other containers, the LAN, or the
cloud metadata address 169.254.169.254. Following z2jh's single-user network policy, a server may reach:

    its own hub's API (address and port)   — JupyterHub's single-user server needs it
    DNS (port 53), wherever the resolver is — Docker's embedded DNS forwards from the container's namespace
    the internet (non-private addresses)    — pip, git, data

and nothing else: no private, link-local, shared or loopback range, nor the networks this desktop's own
interfaces are on (a lab's LAN may use public addresses), no other service on the host, no other container
(servers of one hub included). Two iptables chains per bridge, rebuilt whole when applied:

    INPUT       -i BRIDGE -> LOCALHUB-<NAME>-IN:   answers pass; the hub's API and DNS pass; the rest is dropped
    DOCKER-USER -i BRIDGE -> LOCALHUB-<NAME>-OUT:  answers pass; the hub's API and DNS pass; private ranges
                                                   and this desktop's LANs dropped; the internet passes on

Allowed traffic is RETURNed, never ACCEPTed, so the host's own firewall keeps the last word. IPv6 is not
filtered: localhub's bridges have none. Without iptables (not installed, or no permission: the daemon is not
root) nothing can be enforced; `why_unavailable` says why in one phrase, for `up`, `doctor` and the pool.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from pathlib import Path

import ifaddr

PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
           "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4")
DNS_PORT = "53"


class IsolationError(Exception):
    pass


def chains(name: str) -> tuple[str, str]:
    """The (input, output) chain names for one bridge's rules; `name` is short (iptables allows 28 chars)."""
    return f"LOCALHUB-{name}-IN", f"LOCALHUB-{name}-OUT"


SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"  # where Debian puts iptables: not on an ordinary user's PATH


def iptables_command() -> str | None:
    """iptables on this machine, found on PATH or in the sbin folders."""
    return shutil.which("iptables") or shutil.which("iptables", path=SBIN_PATH)


def _iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([iptables_command() or "iptables", "-w", "5", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise IsolationError(f"iptables {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done


def why_unavailable() -> str | None:
    """None when rules can be applied here; otherwise why not, in one phrase."""
    if not iptables_command():
        return "iptables is not installed, so network isolation cannot be enforced"
    try:
        done = _iptables("-L", "DOCKER-USER", "-n", check=False)
    except OSError as err:
        return f"iptables cannot run here ({err.strerror})"
    if done.returncode != 0:
        return f"iptables cannot be changed here ({done.stderr.strip() or 'no permission'})"
    return None


def bridge_of(network_attrs: dict) -> str:
    """The Linux bridge behind a Docker bridge network (its own name option, else Docker's `br-<id>`)."""
    options = network_attrs.get("Options") or {}
    return options.get("com.docker.network.bridge.name") or f"br-{network_attrs['Id'][:12]}"


_NOT_A_LAN = ("lo", "docker", "br-", "veth", "lh-", "lhguests")


def local_networks() -> list[str]:
    """The IPv4 networks of this desktop's own interfaces (its LANs), Docker's bridges and loopback aside,
    that no private range already covers."""
    private = [ipaddress.ip_network(n) for n in PRIVATE]
    found = set()
    for adapter in ifaddr.get_adapters():
        if adapter.nice_name.startswith(_NOT_A_LAN):
            continue
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                network = ipaddress.ip_network(f"{ip.ip}/{ip.network_prefix}", strict=False)
                if not any(network.subnet_of(p) for p in private):
                    found.add(str(network))
    return sorted(found)


def rules(hubs: set[tuple[str, int]], lans: list[str] = ()) -> tuple[list[list[str]], list[list[str]]]:
    """The rules of the input and output chains, in order (what `apply` installs; tests read them)."""
    answers = ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"]
    allowed = [["-d", address, "-p", "tcp", "--dport", str(port), "-j", "RETURN"] for address, port in sorted(hubs)]
    dns = [["-p", proto, "--dport", DNS_PORT, "-j", "RETURN"] for proto in ("udp", "tcp")]
    into_host = [answers, *allowed, *dns, ["-j", "DROP"]]
    out = [answers, *allowed, *dns, *(["-d", network, "-j", "DROP"] for network in (*PRIVATE, *lans))]
    return into_host, out


def apply(name: str, bridge: str, hubs: set[tuple[str, int]]) -> None:
    """Rebuild both chains of `bridge` for the hubs (address, API port) its containers may reach."""
    chain_in, chain_out = chains(name)
    into_host, out = rules(hubs, local_networks())
    for chain, parent, body in ((chain_in, "INPUT", into_host), (chain_out, "DOCKER-USER", out)):
        if _iptables("-n", "-L", chain, check=False).returncode != 0:
            _iptables("-N", chain)
        _iptables("-F", chain)
        for rule in body:
            _iptables("-A", chain, *rule)
        jump = ("-i", bridge, "-j", chain)
        if _iptables("-C", parent, *jump, check=False).returncode != 0:
            _iptables("-I", parent, "1", *jump)


def forget_gone() -> list[str]:
    """Remove the chains of bridges that no longer exist (a hub killed, or its network removed without
    `localhub down`); returns their names. Chains of live bridges, and chains not yet jumped to, stay."""
    gone = []
    for line in _iptables("-S", "INPUT", check=False).stdout.splitlines():
        words = line.split()
        if len(words) == 6 and words[:2] == ["-A", "INPUT"] and words[2] == "-i" and words[4] == "-j" \
                and words[5].startswith("LOCALHUB-") and words[5].endswith("-IN"):
            bridge, name = words[3], words[5][len("LOCALHUB-"):-len("-IN")]
            if not Path("/sys/class/net", bridge).exists():
                remove(name, bridge)
                gone.append(name)
    return gone


def remove(name: str, bridge: str) -> None:
    """Take a bridge's chains away (its network is gone). Quiet if they are not there."""
    for chain, parent in zip(chains(name), ("INPUT", "DOCKER-USER")):
        while _iptables("-D", parent, "-i", bridge, "-j", chain, check=False).returncode == 0:
            pass
        _iptables("-F", chain, check=False)
        _iptables("-X", chain, check=False)
