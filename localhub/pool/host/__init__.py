"""This desktop as a host of lab guests; its owner always comes first.

    agent            the HTTPS API peers call (status, offer, image and home uploads, run, pause, stop, …)
    agent_signed     the agent's handlers' common ground: signatures checked, answers signed, refusals
    agent_transfers  the agent's image and home uploads, checked by hash, and a home sent back streamed
    guests           the guest containers: hardened whatever a request asks, their homes kept until fetched
    guest_request    what a run request may ask, checked; the guest's TLS files
    guest_record     a guest's record and states, kept in <state>/pool/guests.json
    isolation        iptables rules that keep guests off the desktop's LAN and services
    policy           when the desktop accepts guests (HTCondor's desktop policy), pure functions
    idle             how long since the owner's last input, from whatever source the desktop has (D-Bus, X, a file)
    share            what the owner shares (`pool share`), and whether an offer fits
    machine          live figures (psutil): cores, load, memory, disk
    node             this desktop's state and status, combining the above
    service          agent + mDNS record + owner watch, run together
"""
