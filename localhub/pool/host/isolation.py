"""Keeping guests to themselves: a guest container reaches its own hub, DNS and the internet, never this
desktop's LAN addresses, its host services (the agent, the owner's own hub, anything listening) or other
guests — localhub's one network policy (localhub/isolation.py), applied to the guests' bridge.

Guests run on one Docker bridge, `localhub-guests` (Linux bridge `lhguests0`, inter-container traffic off),
whose chains (LOCALHUB-GUEST-IN, LOCALHUB-GUEST-OUT) are rebuilt whole whenever the set of hubs in use changes.
Without iptables (not installed, or no permission) isolation cannot be enforced, and the agent refuses
guests with that reason rather than run them open to the owner's network.
"""

from __future__ import annotations

from ... import isolation as policy

NETWORK = "localhub-guests"
BRIDGE = "lhguests0"
CHAIN_IN, CHAIN_OUT = policy.chains("GUEST")
IsolationError = policy.IsolationError
why_unavailable = policy.why_unavailable


def ensure_network(client) -> str:
    """The guests' bridge network (made once); returns its name."""
    if not client.networks.list(names=[NETWORK]):
        client.networks.create(NETWORK, driver="bridge", labels={"localhub.pool": "guests"}, options={
            "com.docker.network.bridge.name": BRIDGE,
            "com.docker.network.bridge.enable_icc": "false",
        })
    return NETWORK


def apply(hubs: set[tuple[str, int]]) -> None:
    """Rebuild both chains for the hubs (address, API port) whose guests run here."""
    policy.apply("GUEST", BRIDGE, hubs)
