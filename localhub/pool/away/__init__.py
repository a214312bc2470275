"""This hub's servers on other desktops of the lab. All of it runs in the daemon; the hub's spawner asks it
through the daemon's API (localhub/api_hub.py).

    client       calling a peer's agent (signed, pinned, streamed bodies)
    stream       a home on the wire: frames, then the peer's signed trailer
    monitor      peers found by mDNS, kept alive-checked through their agents
    target       what a placement target offers (offer, run, poll, stop), and this desktop as one
    peer         a lab peer as a target: the journey out, following the server there, the journey home
    placement    choosing a target for `--where local|auto|PEER`, and the service the spawner asks
    ledger       the record of every server away (the daemon's alone), so interrupted journeys finish later
    transfer     images and homes over the agent: out, and home into a local volume
    keeper       the daemon's watch: notices, home syncs, homes brought back, with back-off
    archives     an image or a home as a whole, checked archive file, both ways
    home_reader  a home going out as a stream, read by a tar helper started ahead
    home_swap    a home coming back as a stream, swapped in only once it checks out
    tar_helpers  the tar helper containers and FIFOs of streamed homes; what killed transfers left
    tunnel       TLS from this hub to each of its servers on peers, pinned (JupyterHub's proxy routes there)
"""
