"""The hub's own Docker network: a user-defined bridge that containers reach the hub on.

It must exist before JupyterHub starts, because the hub binds its internal API to the network's gateway
address (otherwise: "Cannot assign requested address"). One network per hub keeps side-by-side hubs apart.
"""

from __future__ import annotations

import docker
import docker.errors


def network_name(instance: str) -> str:
    return f"localhub-{instance}"


def ensure_network(client: docker.DockerClient, instance: str, labels: dict) -> tuple[str, str]:
    """Create the network if needed; return (name, gateway address)."""
    name = network_name(instance)
    existing = client.networks.list(names=[name])
    network = existing[0] if existing else client.networks.create(
        name, driver="bridge", labels={**labels, "localhub.instance": instance}
    )
    network.reload()
    configs = network.attrs.get("IPAM", {}).get("Config") or []
    gateway = next((c["Gateway"] for c in configs if c.get("Gateway")), None)
    if not gateway:
        raise RuntimeError(f"Docker network {name} has no gateway address")
    return name, gateway


def remove_network(client: docker.DockerClient, instance: str) -> None:
    """Remove the hub's network when no container uses it any more (it is made again at the next start)."""
    for network in client.networks.list(names=[network_name(instance)]):
        network.reload()
        if not network.attrs.get("Containers"):
            try:
                network.remove()
            except docker.errors.APIError:
                pass  # a container joined meanwhile: keep it
