"""A token made for one run of one server dies with that run.

A Binder launch hands its client a token that opens only the launched server (`access:servers!server=u/name`),
so that Thebe, Jupyter Book and the like can talk to it. Once that server stops — from the CLI, the TUI, the
hub's pages or the idle culler — such a token is revoked: a later server of the same name (the next launch, or a
new server after a delete) never honours it. JupyterHub runs `revoke_server_tokens` as every spawner's
`post_stop_hook` (hub_config.py).
"""

from __future__ import annotations


def server_scope(user: str, server: str) -> str:
    return f"access:servers!server={user}/{server}"


def revoke_server_tokens(spawner) -> int:
    """Delete the user's API tokens whose only scope is access to this server; returns how many."""
    user = spawner.user
    scope = server_scope(user.name, spawner.name)
    revoked = 0
    for token in list(user.orm_user.api_tokens):
        if set(token.scopes or ()) == {scope}:
            user.db.delete(token)
            revoked += 1
    if revoked:
        user.db.commit()
        spawner.log.info("Revoked %d token(s) that opened only %s, now stopped.", revoked, spawner._log_name)
    return revoked
