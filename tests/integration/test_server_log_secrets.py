"""The hub's log and a server's own log, as `localhub logs` and `localhub servers logs` show them, carry no token: jupyter_server scrubs `?token=` from
the URLs it logs but not `Token=`, `;token=` or `%74oken=`, so the daemon redacts every line it hands out
(redact.py, the one owner of redaction; hub/servers_web.py, ServerLogsHandler)."""

from __future__ import annotations

import secrets

import httpx
import pytest

pytestmark = pytest.mark.docker


def test_servers_logs_show_no_token_in_any_spelling(hub):
    hub.cli("servers", "new", "logsecret")
    try:
        base = f"/user/{hub.user}/logsecret/api/no-such-page"
        marks = {}
        with httpx.Client(base_url=hub.url, headers={"Authorization": f"token {hub.token}"}, timeout=60) as http:
            for spelling in ("Token=", ";token=", "%74oken=", "?x=1;TOKEN="):
                marks[spelling] = secrets.token_hex(16)  # not a real token: a marker to look for in the log
                query = spelling if spelling[0] in "?;" else "?" + spelling
                assert http.get(f"{base}{query}{marks[spelling]}").status_code == 404
        shown = hub.cli("servers", "logs", "logsecret").stdout
        assert "no-such-page" in shown  # the refused requests are in the log
        leaked = [spelling for spelling, mark in marks.items() if mark in shown]
        assert not leaked, leaked
        assert "[secret]" in shown
    finally:
        hub.cli("servers", "delete", "logsecret", "--yes", check=False)


def test_the_hubs_log_shows_no_token_in_any_spelling(hub):
    """JupyterHub logs a refused request's URL; it scrubs `?token=` but not `%74oken=` (redact.py in its process)."""
    marks = {spelling: secrets.token_hex(16) for spelling in ("?%74oken=", "?Token=", "?x=1;token=", "?tok%65n=")}
    with httpx.Client(base_url=hub.url, timeout=60) as http:
        for spelling, mark in marks.items():
            assert http.get(f"/hub/api/users/{hub.user}{spelling}{mark}").status_code == 403
    shown = hub.cli("logs", "-n", "400").stdout
    assert f"/hub/api/users/{hub.user}" in shown  # the refused requests are in the log
    leaked = [spelling for spelling, mark in marks.items() if mark in shown]
    assert not leaked, leaked
