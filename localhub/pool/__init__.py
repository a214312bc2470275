"""The lab pool: idle desktops found by mDNS, asked through an authenticated agent, owners always first.

    keys       lab key, pairing code, node id, peer pins (trust on first use)
    tls        each node's self-signed certificate; clients pinned to a fingerprint
    auth       HMAC signing of agent requests and responses; replay and clock checks
    idle       how long since the owner's last input, from whatever source the desktop has
    policy     when the desktop accepts guests (HTCondor's desktop policy), pure functions
    share      what the owner shares (`pool share`), and whether an offer fits
    machine    live figures from /proc
    node       this desktop's state and status, combining the above
    agent      the HTTPS API peers call (status, offer)
    client     calling a peer's agent
    discovery  the mDNS record and the browser of lab peers
    monitor    peers found by mDNS, kept alive-checked through their agents
    service    agent + record + owner watch, run together (until the daemon runs them)
    commands   `localhub pool init|join|share|status|forget`
"""
