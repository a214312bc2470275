"""Trust in the lab: who may talk to whom.

    keys     the lab key, its pairing code, this node's id, peers' pinned certificates (trust on first use)
    tls      each node's self-signed certificate; clients pinned to a fingerprint
    signing  HMAC signatures of agent requests and answers; replay and clock checks
"""
