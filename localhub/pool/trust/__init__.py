"""Trust in the lab: who may talk to whom.

    members  one identity per desktop: the lab's authority, member cards, the list of removed desktops
    pairing  joining with a short code (SPAKE2 over TLS), the card handed over encrypted
    keys     this node's id, peers' pinned certificates (trust on first use), a shared-key group (a class)
    tls      each node's certificate, clients pinned to a fingerprint; the hub's authority for its servers on
             peers (the certificates that keep that traffic private)
    signing  requests and answers signed by the sender's own key (or a group's shared key); replay and clock
             checks
"""
