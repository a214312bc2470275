"""The hub's own Docker network: a user-defined bridge that containers reach the hub on.

It must exist before JupyterHub starts, because the hub binds its internal API to the network's gateway
address (otherwise: "Cannot assign requested address"). One network per hub keeps side-by-side hubs apart,
and its bridge (`lh-<instance>`) carries the network policy of localhub/isolation.py: the servers reach their
hub's API, DNS and the internet, nothing else on this desktop or its LAN.
"""

from __future__ import annotations

import docker
import docker.errors

from .. import isolation


def network_name(instance: str) -> str:
    return f"localhub-{instance}"


def ensure_network(client: docker.DockerClient, instance: str, labels: dict) -> tuple[str, str]:
    """Create the network if needed; return (name, gateway address)."""
    name = network_name(instance)
    existing = client.networks.list(names=[name])
    network = existing[0] if existing else client.networks.create(
        name, driver="bridge", labels={**labels, "localhub.instance": instance},
        options={"com.docker.network.bridge.name": f"lh-{instance}"[:15]},
    )
    network.reload()
    configs = network.attrs.get("IPAM", {}).get("Config") or []
    gateway = next((c["Gateway"] for c in configs if c.get("Gateway")), None)
    if not gateway:
        raise RuntimeError(f"Docker network {name} has no gateway address")
    return name, gateway


def isolate(client: docker.DockerClient, instance: str, hub_api: tuple[str, int]) -> str | None:
    """Apply the network policy to the hub's bridge (its servers reach `hub_api`, DNS and the internet only).
    Returns None when it is enforced, else why not (one phrase)."""
    problem = isolation.why_unavailable()
    if problem:
        return problem
    (network,) = client.networks.list(names=[network_name(instance)])
    try:
        isolation.forget_gone()  # rules left by hubs that were killed or cleaned up without `down`
        isolation.apply(instance, isolation.bridge_of(network.attrs), {hub_api})
    except isolation.IsolationError as err:
        return str(err)
    return None


def not_isolated_warning(why: str) -> str:
    """What a user is told when `isolate` could not enforce the policy."""
    return (f"servers are NOT isolated on the network: {why}; they can reach this desktop's services and its LAN "
            "(`localhub doctor` says more).")


def exposed_warning(ip: str) -> str | None:
    """What a user is told when the hub's pages listen beyond this machine (`--ip`); None on loopback."""
    if ip in ("127.0.0.1", "localhost", "::1") or ip.startswith("127."):
        return None
    where = "every address of this machine" if ip in ("", "0.0.0.0", "::") else ip
    return (f"the hub listens on {where} (setting ip): anyone on your network can open its pages; only a sign-in "
            "link or a token lets them in.")


def remove_network(client: docker.DockerClient, instance: str) -> None:
    """Remove the hub's network when no container uses it any more (it is made again at the next start),
    and its bridge's rules with it."""
    for network in client.networks.list(names=[network_name(instance)]):
        network.reload()
        if not network.attrs.get("Containers"):
            try:
                network.remove()
            except docker.errors.APIError:
                continue  # a container joined meanwhile: keep it
            if not isolation.why_unavailable():
                isolation.remove(instance, isolation.bridge_of(network.attrs))
