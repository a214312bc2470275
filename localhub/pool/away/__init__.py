"""This hub's servers on other desktops of the lab.

    client    calling a peer's agent (signed, pinned, streamed bodies)
    monitor   peers found by mDNS, kept alive-checked through their agents
    archives  a home or an image as a checked archive, both ways
    remote    where to place a server, its journey out and home, the ledger and its keeper
"""
