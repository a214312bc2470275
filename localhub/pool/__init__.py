"""The lab pool: idle desktops found by mDNS, asked through an authenticated agent, owners always first.

The package is cut by role:

    trust/     who may talk to whom: each desktop's identity certified by the lab (members), joining with a
               short code (pairing), certificates and TLS (tls), signed requests and answers (signing)
    host/      this desktop lending its idle time: the agent peers call, the guests it runs and their
               isolation, the owner's policy and idle sources, what the owner shares, live figures
    away/      this hub's servers on other desktops: calling a peer's agent (client), the live view of peers
               (monitor), placement targets and the choice between them (target, peer, placement), the
               ledger of servers away, image and home transfers (transfer, archives), the keeper, and the
               TLS tunnels JupyterHub's proxy reaches those servers through (tunnel)
    discovery  the mDNS record and the browser of lab peers (used by host/ and away/ alike)
    member     what the daemon runs while this desktop is in a lab, and leaving the lab
    hub_door   this hub's API on the LAN address (only there), for its servers on peers
    entry      how the pool's runnable modules end (one sentence, not a traceback)

Only the daemon runs the pool: code inside JupyterHub (the spawner's placement on peers, the authenticator's
policy check) asks the daemon's API, so no second process reads or writes the pool's state.
"""
