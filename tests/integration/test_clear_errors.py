"""Bad situations are one clear sentence and a non-zero exit, never a traceback."""

from __future__ import annotations

import socket

import pytest

from tests.support.hubs import free_port_block, localhub

pytestmark = pytest.mark.docker


def assert_one_clear_sentence(proc, *fragments):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    err = proc.stderr.strip()
    assert err.startswith("localhub: ") and len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err


def test_engine_unreachable(tmp_path):
    import os

    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock", "LOCALHUB_CONFIG_DIR": str(tmp_path)}
    proc = localhub("up", "--state-dir", str(tmp_path / "s"), "--port", str(free_port_block()), env=env, check=False)
    assert_one_clear_sentence(proc, "Docker engine not reachable", "no-docker.sock", "systemctl start docker")


def test_port_taken(tmp_path):
    import os

    port = free_port_block()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        proc = localhub("up", "--state-dir", str(tmp_path / "s"), "--port", str(port),
                        env={**os.environ, "LOCALHUB_CONFIG_DIR": str(tmp_path)}, check=False)
    assert_one_clear_sentence(proc, f"Port {port}", "already in use", "--port")


def test_state_dir_unwritable(tmp_path):
    import os

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    proc = localhub("up", "--state-dir", str(blocker / "state"), "--port", str(free_port_block()),
                    env={**os.environ, "LOCALHUB_CONFIG_DIR": str(tmp_path)}, check=False)
    assert_one_clear_sentence(proc, "is not writable", "--state-dir")


def test_bad_profile_file_names_file_and_field(tmp_path):
    """A bad profile file is skipped with a warning naming file and field (it no longer stops `up`: see
    tests/reliability/test_bad_profiles.py); doctor says so too."""
    import json
    import os

    (tmp_path / "profiles").mkdir()
    bad = tmp_path / "profiles" / "gpu.toml"
    bad.write_text('name = "gpu"\ndescription = "x"\ncpu = "lots"\nmemory = "2G"\nstorage = "1Gi"\n')
    proc = localhub("doctor", "--json", "--state-dir", str(tmp_path / "s"),
                    env={**os.environ, "LOCALHUB_CONFIG_DIR": str(tmp_path)}, check=False)
    (warning,) = [c for c in json.loads(proc.stdout) if c["check"] == "profiles" and not c["ok"]]
    assert str(bad) in warning["detail"] and "'cpu'" in warning["detail"] and "skipped" in warning["detail"]


def test_commands_without_a_hub_say_so(tmp_path):
    proc = localhub("servers", "ls", "--state-dir", str(tmp_path), check=False)
    assert_one_clear_sentence(proc, "No localhub is running", "localhub up")


def test_doctor_reports_engine_and_images(tmp_path):
    import json
    import os

    proc = localhub("doctor", "--json", "--state-dir", str(tmp_path / "s"),
                    env={**os.environ, "LOCALHUB_CONFIG_DIR": str(tmp_path)}, check=False)
    checks = {c["check"]: c for c in json.loads(proc.stdout)}
    assert checks["engine"]["ok"] and "API 1." in checks["engine"]["detail"]
    assert checks["image"]["ok"]
    assert "watched" in checks["storage caps"]["detail"]  # ext4 here: no volume quotas
