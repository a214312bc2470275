"""The pool seen from a hub on the real engine, on loopback only (tests/lan has the lab on a simulated LAN):
`pool status` while a hub runs without its pool, `pool leave` through the running daemon, and the start
error when the port of the hub's API is taken."""

from __future__ import annotations

import json
import socket

import pytest

from localhub.hub.hub_config import hub_api_port

pytestmark = pytest.mark.docker


def test_status_and_leave_while_a_hub_runs_that_joined_no_lab(hub):
    # The desktop joins a lab after its hub started: the hub takes part only from its next start.
    hub.cli("pool", "init", "--state-dir", str(hub.state_dir))
    try:
        status = json.loads(hub.cli("pool", "status", "--json", "--interface", "127.0.0.1", "--seconds", "0.3",
                                    "--state-dir", str(hub.state_dir)).stdout)
        assert "no hub runs" not in status["note"], status["note"]
        assert "hub runs without its pool (this desktop was in no lab when the hub started)" in status["note"]
        assert "`localhub restart`" in status["note"]
    finally:
        left = hub.cli("pool", "leave", "--state-dir", str(hub.state_dir))
    assert "left lab" in left.stdout and "its hub runs on without the pool" in left.stdout
    assert hub.cli("pool", "status", "--state-dir", str(hub.state_dir), check=False).returncode == 3
    assert hub.client.info()["version"]  # the hub runs on


def test_the_hubs_api_port_taken_on_every_address_is_named_at_start(hub_factory):
    hub = hub_factory.create("api-port-taken")
    taken = hub_api_port(hub.port)
    with socket.socket() as other_hub:  # say, another JupyterHub whose API listens on every address
        other_hub.bind(("0.0.0.0", taken))
        other_hub.listen()
        proc = hub.cli("up", "--detach", "--port", str(hub.port), check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr + proc.stdout
    err = proc.stderr.strip()
    assert err.startswith("localhub: ") and len(err.splitlines()) == 1, err
    assert f"Port {taken} (for the hub's API" in err and "already in use" in err and "--port" in err, err
