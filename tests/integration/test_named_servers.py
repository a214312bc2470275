"""Named servers through the CLI and JupyterHub's REST API: storage that persists, limits and hardening
that Docker applies, and policies that refuse bad requests with a clear 4xx."""

from __future__ import annotations

from contextlib import closing

import json
import threading
import time

import docker
import httpx
import pytest

pytestmark = pytest.mark.docker


def api(hub) -> httpx.Client:
    return httpx.Client(base_url=hub.url, headers={"Authorization": f"token {hub.token}"}, timeout=30)


def test_server_lifecycle_keeps_files_and_is_hardened(hub):
    out = hub.cli("servers", "new", "notes", "--json").stdout.strip().splitlines()
    assert json.loads(out[-1]) == {"name": "notes", "ready": True, "url": f"{hub.url}/user/{hub.user}/notes/"}

    with api(hub) as http:
        base = f"/user/{hub.user}/notes/api"
        assert http.get(f"{base}/status").status_code == 200
        put = http.put(f"{base}/contents/results.txt",
                       json={"type": "file", "format": "text", "content": "42 and counting"})
        assert put.status_code in (200, 201)

        (container,) = [c for c in hub.containers(all=False) if c.name.endswith("--notes")]
        host = container.attrs["HostConfig"]
        assert host["Privileged"] is False
        assert host["CapDrop"] == ["ALL"]
        assert "no-new-privileges:true" in host["SecurityOpt"]
        assert host["PidsLimit"] == 1024
        assert host["Memory"] == 2_000_000_000  # default profile: 2 GB
        assert host["NanoCpus"] == 1_000_000_000 or host["CpuQuota"] == host["CpuPeriod"]  # 1 CPU
        assert host["NetworkMode"] == f"localhub-{hub.instance}"
        mounts = container.attrs["Mounts"]
        assert [m["Type"] for m in mounts] == ["volume"]  # no host path mounted
        assert mounts[0]["Destination"] == "/home/jovyan"
        assert container.labels["localhub.test"] == "1"
        volume = mounts[0]["Name"]

        hub.cli("servers", "stop", "notes")
        assert not [c for c in hub.containers(all=True) if c.name.endswith("--notes")]
        hub.cli("servers", "start", "notes")
        got = http.get(f"{base}/contents/results.txt")
        assert got.status_code == 200 and got.json()["content"] == "42 and counting"

    def notes_listed() -> dict:
        (listed,) = [s for s in json.loads(hub.cli("servers", "ls", "--json").stdout) if s["name"] == "notes"]
        return listed

    # the home's use is measured in the background (storage_watch.py: a meter beside the server, seconds late under
    # load), so it is listed as unknown until then
    deadline = time.monotonic() + 60
    while (notes := notes_listed())["storage_used"] is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert notes["status"] == "running" and notes["profile"] == "default"
    assert notes["storage_cap"] == 2 * 2**30 and notes["storage_used"] > 0

    hub.cli("servers", "delete", "notes", "--yes")
    with closing(docker.from_env()) as engine:
        assert not engine.volumes.list(filters={"name": volume})
    assert "notes" not in hub.cli("servers", "ls").stdout


def test_profile_sets_limits(hub):
    hub.cli("servers", "new", "tiny", "--profile", "small")
    (container,) = [c for c in hub.containers(all=False) if c.name.endswith("--tiny")]
    assert container.attrs["HostConfig"]["Memory"] == 1_000_000_000
    assert container.attrs["HostConfig"]["CpuQuota"] == 50_000
    hub.cli("servers", "delete", "tiny", "--yes")


def test_policies_refuse_with_clear_messages_and_leave_nothing(hub):
    with api(hub) as http:
        servers = f"/hub/api/users/{hub.user}/servers"
        long_name = http.post(f"{servers}/a-name-that-is-far-too-long", json={})
        assert long_name.status_code == 400
        assert "at most 20 characters" in long_name.json()["message"]

        bad_chars = http.post(f"{servers}/Bad_Name", json={})
        assert bad_chars.status_code == 400 and "lowercase" in bad_chars.json()["message"]

        no_image = http.post(f"{servers}/noimage", json={"user_options": {"image": "not/here:1"}})
        assert no_image.status_code == 400 and "not on this machine" in no_image.json()["message"]

        no_profile = http.post(f"{servers}/noprofile", json={"user_options": {"profile": "huge"}})
        assert no_profile.status_code == 400 and "no profile 'huge'" in no_profile.json()["message"]

        user = http.get(f"/hub/api/users/{hub.user}", params={"include_stopped_servers": 1}).json()
        assert not set(user["servers"]) & {"a-name-that-is-far-too-long", "Bad_Name", "noimage", "noprofile"}

        # five named servers (created without starting), then the sixth is refused
        existing = {name for name in user["servers"] if name}
        made = []
        for i in range(5 - len(existing)):
            assert http.put(f"{servers}/slot-{i}").status_code == 201
            made.append(f"slot-{i}")
        sixth = http.post(f"{servers}/one-too-many", json={})
        assert sixth.status_code == 400 and "maximum of 5 named servers" in sixth.json()["message"]
        for name in made:
            assert http.request("DELETE", f"{servers}/{name}", json={"remove": True}).status_code == 204

    failed = hub.cli("servers", "new", "x" * 25, check=False)
    assert failed.returncode == 1
    assert failed.stderr.startswith("localhub: Server name") and "Traceback" not in failed.stderr


def test_over_cap_storage_refuses_start(hub):
    hub.cli("servers", "new", "hoarder", "--profile", "small")
    (container,) = [c for c in hub.containers(all=False) if c.name.endswith("--hoarder")]
    # 1.1 GiB of real data in a home whose profile caps it at 1 GiB: the storage watch may stop so fast a writer
    # as soon as it is past its cap (exit 137), or just after it wrote; either way the home is over its cap
    wrote = container.exec_run(["sh", "-c", "head -c 1181116006 /dev/zero > ~/big.bin"])
    assert wrote.exit_code in (0, 137), wrote.output
    hub.cli("servers", "stop", "hoarder", check=False)  # stopped already, when the watch did it
    refused = hub.cli("servers", "start", "hoarder", check=False)
    assert refused.returncode == 1
    assert "over its 1.0 GiB cap" in refused.stderr
    listing = hub.cli("servers", "ls").stdout
    assert "hoarder" in listing and " !" in listing
    # the refusal's advice is a command that works
    advice = refused.stderr.split("`")[1]
    assert advice == "localhub servers start hoarder --profile large"
    hub.cli(*advice.split()[1:])
    assert json.loads(hub.cli("servers", "ls", "--json").stdout) and hub.client.server("hoarder").profile == "large"
    hub.cli("servers", "delete", "hoarder", "--yes")


def test_logs_and_open(hub):
    hub.cli("servers", "new", "chatty")
    logs = hub.cli("servers", "logs", "chatty", "--tail", "50").stdout
    assert "jupyterhub-singleuser" in logs.lower() or "ServerApp" in logs
    assert hub.cli("servers", "open", "chatty").stdout.strip() == f"{hub.url}/user/{hub.user}/chatty/"
    hub.cli("servers", "delete", "chatty", "--yes")


def test_a_reader_of_a_quiet_followed_log_can_stop(hub):
    hub.cli("servers", "new", "quiet")
    stop, ended = threading.Event(), threading.Event()

    def follow():
        for _line in hub.client.server_logs("quiet", follow=True, tail=5):
            if stop.is_set():
                break
        ended.set()

    threading.Thread(target=follow, daemon=True).start()
    time.sleep(2)  # the server has started and is quiet: no new log lines
    stop.set()
    assert ended.wait(15), "the reader stayed blocked in a quiet followed log"
    hub.cli("servers", "delete", "quiet", "--yes")


def test_a_server_named_default_is_not_the_default_server(hub):
    """Names map one-to-one to containers and homes: a named server `default` neither replaces the running
    default server's container nor takes its home with it when deleted; an empty name acts on nothing."""
    with api(hub) as http:
        assert http.post(f"/hub/api/users/{hub.user}/server").status_code in (201, 202)
        deadline = time.monotonic() + 60
        while not http.get(f"/hub/api/users/{hub.user}").json()["servers"].get("", {}).get("ready"):
            assert time.monotonic() < deadline, "the default server did not start"
            time.sleep(0.5)
        (default,) = [c for c in hub.containers(all=False) if c.labels.get("localhub.server") == ""]
        assert default.exec_run(["sh", "-c", "echo mine > ~/default-home.txt"]).exit_code == 0

        hub.cli("servers", "new", "default")
        default.reload()
        assert default.status == "running", "creating a server named 'default' replaced the default server"
        hub.cli("servers", "delete", "default", "--yes")
        kept = default.exec_run(["cat", "/home/jovyan/default-home.txt"])
        assert kept.output.decode().strip() == "mine"

        for args in (("new", ""), ("stop", ""), ("start", " "), ("delete", "", "--yes")):
            refused = hub.cli("servers", *args, check=False)
            assert refused.returncode == 1 and "Traceback" not in refused.stderr
            assert len(refused.stderr.strip().splitlines()) == 1 and "needs a name" in refused.stderr
        default.reload()
        assert default.status == "running"
        http.delete(f"/hub/api/users/{hub.user}/server")
        deadline = time.monotonic() + 60
        while http.get(f"/hub/api/users/{hub.user}").json()["servers"].get(""):
            assert time.monotonic() < deadline, "the default server did not stop"
            time.sleep(0.5)
    with closing(docker.from_env()) as engine:
        (home,) = engine.volumes.list(filters={"name": f"localhub-{hub.instance}-{hub.user}--default"})
        probe = engine.containers.run("localhub/singleuser:test", ["cat", "/h/default-home.txt"], remove=True,
                                      volumes={home.name: {"bind": "/h", "mode": "ro"}}, labels={"localhub.test": "1"})
        assert probe.decode().strip() == "mine", "deleting the server named 'default' deleted the default's home"
