"""The command line as a script uses it, against a real hub: global options before the command (`localhub
--state-dir S status`), and `--json` on every command whose output a script reads: each output parses (one
document, or JSON lines for what streams)."""

from __future__ import annotations

import io
import json
import time

import docker
import pytest

from tests.support.binder import CaseRepo, remove_images_under
from tests.support.hubs import localhub

pytestmark = pytest.mark.docker


def bare_env(hub) -> dict:
    """The environment of a shell that names no hub: the state dir must come from the command line."""
    return {k: v for k, v in hub.env.items() if k != "LOCALHUB_STATE_DIR"}


def document(hub, *args: str):
    """One JSON document from `localhub --json ARGS` (the global form: --json before the command)."""
    return json.loads(hub.cli("--json", *args).stdout)


def lines(hub, *args: str) -> list:
    out = hub.cli(*args, "--json").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_global_options_before_the_command_address_the_hub(hub, tmp_path):
    env = bare_env(hub)
    status = json.loads(localhub("--state-dir", str(hub.state_dir), "--json", "status", env=env).stdout)
    assert status["running"] is True and status["url"] == hub.url
    text = localhub("--state-dir", str(hub.state_dir), "status", env=env).stdout
    assert f"is running at {hub.url}" in text
    # after the command, as before; the closer one wins
    nowhere = localhub("--state-dir", str(hub.state_dir), "status", "--state-dir", str(tmp_path), "--json",
                       env=env, check=False)
    assert nowhere.returncode == 3 and json.loads(nowhere.stdout) == {"running": False, "state_dir": str(tmp_path),
                                                             "leftover_hub_pid": None}
    listed = json.loads(localhub("--json", "--state-dir", str(hub.state_dir), "servers", "ls", env=env).stdout)
    assert isinstance(listed, list)


def server_row(hub, name: str, within: float = 60) -> dict:
    """`servers ls`'s row of a server as {column: cell}, once the daemon has sampled its usage."""
    deadline = time.monotonic() + within
    while True:
        header, *rows = hub.cli("servers", "ls").stdout.splitlines()
        starts = [header.index(column) for column in header.split()]
        cells = [[line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])] for line in rows]
        row = dict(zip(header.split(), next(c for c in cells if c[0] == name)))
        if "-" not in (row["CPU"], row["MEMORY"]) or time.monotonic() > deadline:
            return row
        time.sleep(1)


@pytest.fixture
def case_repos(tmp_path):
    yield tmp_path
    remove_images_under(tmp_path)


def test_every_command_of_a_running_hub_speaks_json(hub, case_repos):
    assert document(hub, "up")["url"] == hub.url  # already running: says where
    assert document(hub, "login")["url"].startswith(hub.url)
    assert document(hub, "status")["running"] is True
    assert isinstance(document(hub, "doctor"), list)
    assert document(hub, "config")["state_dir"] == str(hub.state_dir)
    assert document(hub, "spec", "gh/org/repo/HEAD")["repo"] == "https://github.com/org/repo"

    repo = CaseRepo("dockerfile-basic", case_repos, "cli-json")
    events = lines(hub, "launch", str(repo.path))
    ready = events[-1]
    assert ready["phase"] == "ready", events
    name = ready["server"]
    try:
        assert name in [s["name"] for s in document(hub, "servers", "ls")]
        opened = document(hub, "servers", "open", name)
        assert opened == {"name": name, "url": ready["url"].split("?")[0], "ready": True}
        row = server_row(hub, name)  # the daemon's usage figures, as the TUI shows them
        assert row["STATUS"] == "running" and row["CPU"].endswith("%") and row["MEMORY"].endswith("iB"), row
        assert row["IDLE"].endswith(("s", "min")) and row["ENVIRONMENT"] == f"local/{repo.path}/HEAD", row
        logged = lines(hub, "servers", "logs", name, "--tail", "5")
        assert logged and all(entry["server"] == name and isinstance(entry["line"], str) for entry in logged)
        assert document(hub, "servers", "stop", name) == {"name": name, "stopped": True}
        started = lines(hub, "servers", "start", name)
        assert started[-1] == {"name": name, "ready": True, "url": opened["url"]}

        env = next(e for e in document(hub, "builds", "ls") if e["image"] == ready["imageName"])
        assert any(line.endswith(f"local/{repo.path}/HEAD") for line in hub.cli("builds", "ls").stdout.splitlines())
        log = document(hub, "builds", "log", env["image"])
        assert log["environment"] == env["image"] and env["image"] in log["log"]
    finally:
        deleted = document(hub, "servers", "delete", name, "--yes")
    assert deleted == {"name": name, "deleted": True}
    assert document(hub, "builds", "rm", env["image"], "--yes") == {"removed": env["image"], "spec": env["spec"]}
    assert env["image"] not in [e["image"] for e in document(hub, "builds", "ls")]


def test_a_hub_of_its_own_speaks_json_and_prunes_only_what_is_unused(hub_factory, case_repos):
    """Up, prune, restart and down: on a hub of its own, since a prune on the shared hub would remove the
    environments other tests built."""
    own = hub_factory.create("cli-json")
    try:
        up = json.loads(own.cli("up", "--detach", "--port", str(own.port), "--json").stdout)
        assert up["started"] is True and up["url"] == own.url and up["login"].startswith(own.url)

        kept = lines(own, "launch", str(CaseRepo("dockerfile-basic", case_repos, "in-use").path))[-1]
        dropped = lines(own, "launch", str(CaseRepo("dockerfile-basic", case_repos, "unused").path))[-1]
        own.cli("servers", "delete", dropped["server"], "--yes")
        recipe = f"FROM localhub/singleuser:test\nLABEL localhub.spec=x localhub.instance={own.instance}\n"
        leftover, _ = docker.from_env().images.build(fileobj=io.BytesIO(recipe.encode()))  # untagged: dangling
        refused = own.cli("builds", "prune", check=False)
        assert refused.returncode == 1 and "--yes" in refused.stderr
        plan = document(own, "builds", "prune", "--dry-run")
        assert [e["image"] for e in plan["environments"]] == [dropped["imageName"]] and plan["removed"] == []
        assert [i["image"] for i in plan["dangling"]] == [leftover.id] and plan["dangling"][0]["size"] > 0
        assert f"Would remove 1 environment no server uses" in own.cli("builds", "prune", "--dry-run").stdout
        done = document(own, "builds", "prune", "--yes")
        assert done["removed"] == [dropped["imageName"], leftover.id] and done["kept"] == []
        assert [e["image"] for e in document(own, "builds", "ls")] == [kept["imageName"]]
        assert own.cli("builds", "prune", "--yes").stdout.startswith("Nothing to prune")

        again = document(own, "restart")
        assert again["started"] is True and again["url"] == own.url and again["pid"] != up["pid"]
        assert document(own, "down") == {"stopped": True, "keep_servers": False, "state_dir": str(own.state_dir)}
        assert document(own, "down")["stopped"] is False
    finally:
        hub_factory.close(own)


def test_the_hubs_own_log_and_its_settings(hub, tmp_path):
    log = hub.cli("logs", "-n", "50").stdout.splitlines()
    assert 0 < len(log) <= 50 and any("JupyterHub" in line for line in log)
    everything = hub.cli("logs", "-n", "100000").stdout + hub.cli("logs", "--daemon", "-n", "100000").stdout
    assert hub.token not in everything  # the hub's API token never reaches its logs
    assert all(json.loads(line)["log"] == "hub" for line in hub.cli("--json", "logs", "-n", "5").stdout.splitlines())

    # a copy of the hub's config: the shared hub's own file stays as it is
    config = tmp_path / "config"
    config.mkdir()
    (config / "config.toml").write_text((hub.config_dir / "config.toml").read_text())
    env = {**hub.env, "LOCALHUB_CONFIG_DIR": str(config)}
    said = localhub("config", "set", "idle_timeout", "600", env=env).stdout
    assert "The running hub still uses the old value: restart it" in said
    assert localhub("config", "get", "idle_timeout", env=env).stdout == "600\n"
    refused = localhub("config", "set", "idle_timeout", "soon", env=env, check=False)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "whole number" in refused.stderr
