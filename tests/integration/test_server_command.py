"""The command a server's container runs (hub/server_command.py, hub/server_start.py): JupyterHub's
single-user server, in the project's own image, without the IRI parser jsonschema would build and without
JupyterHub's database layer (imported on first use instead); still a whole server: a sign-in through the
hub, a kernel and the activity reports the idle culler reads all work, and none of them needs the database
layer. The same command in an environment whose python3 has no JupyterHub runs `jupyterhub-singleuser` as
before; the server's process keeps its name in what localhub tells a user."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import docker
import httpx
import pytest

from localhub.hub.server_command import CODE, server_command
from localhub.server_watch import Process
from tests.support.binder import run_in_kernel, server_base

IMAGE = "localhub/singleuser:test"
PARSER = "rfc3987_syntax.syntax_helpers"  # the module that builds the parser
DB_LAYER = ("alembic", "sqlalchemy.orm")  # what importing jupyterhub.orm brings in
FIRST_USE = "imported on first use"  # the server's line when something does read the database layer


def imports_in_image(command: list[str]) -> str:
    """The output and `-X importtime` report of `command` (a python3 command line) run in the project's image."""
    out = docker.from_env().containers.run(IMAGE, ["-X", "importtime", *command[1:]], entrypoint="python3",
                                           remove=True, stdout=True, stderr=True)
    return out.decode()


def imported(report: str, module: str) -> bool:
    return any(line.rsplit("|", 1)[-1].strip() == module for line in report.splitlines())


@pytest.mark.docker
def test_the_server_starts_without_an_iri_parser_or_the_database_layer_and_the_plain_command_would():
    lean = imports_in_image([*server_command(), "--version"])
    assert "6." in lean.splitlines()[-1] and PARSER not in lean  # JupyterHub's version, no parser built
    assert not [m for m in DB_LAYER if imported(lean, m)] and FIRST_USE not in lean
    plain = imports_in_image(["python3", "-m", "jupyterhub.singleuser", "--version"])
    assert PARSER in plain  # what every server paid before (1.1-1.9 s of its start)
    assert all(imported(plain, m) for m in DB_LAYER)  # and 0.2-0.3 s more


@pytest.mark.docker
def test_a_lean_server_signs_in_through_the_hub_runs_kernels_and_reports_activity(hub):
    name = "lean"
    hub_log = hub.state_dir / "logs" / "hub.log"
    seen = hub_log.stat().st_size
    hub.cli("servers", "new", name)
    try:
        (container,) = [c for c in hub.containers(all=False) if c.name.endswith(f"--{name}")]
        command = container.attrs["Config"]["Cmd"]
        assert command[:2] == ["python3", "-c"] and command[2] == CODE  # this command, not the image's own
        ip = container.attrs["NetworkSettings"]["Networks"][f"localhub-{hub.instance}"]["IPAddress"]
        base = server_base(hub, name)

        # a browser signed in to the hub opens the server: JupyterHub's OAuth between the two
        with httpx.Client(timeout=60, follow_redirects=True) as browser:
            opened = browser.get(hub.cli("login", "--next", f"/user/{hub.user}/{name}/lab").stdout.strip())
            assert opened.status_code == 200 and str(opened.url).startswith(f"{base}/lab"), opened.url
            hops = [str(r.url) for r in opened.history]
            assert any("/hub/api/oauth2/authorize" in u for u in hops) and any(
                f"/user/{hub.user}/{name}/oauth_callback" in u for u in hops), hops
            assert browser.get(f"{base}/api/status").json()["started"]  # the session cookie is the server's

        outputs = run_in_kernel(base, hub.token, ["6 * 7", "import sys; print(sys.version_info[0])"])
        assert [o["status"] for o in outputs] == ["ok", "ok"] and outputs[0]["result"] == "42"
        assert outputs[1]["stdout"] == "3\n"

        # the activity report of the server's start reached the hub (the idle culler reads what it records)
        report = f"200 POST /hub/api/users/{hub.user}/activity ({hub.user}@{ip})"
        assert report in hub_log.read_text()[seen:]
        logs = container.logs().decode()
        assert "Error notifying Hub of activity" not in logs
        assert FIRST_USE not in logs  # nothing of the above needed JupyterHub's database layer
    finally:
        hub.cli("servers", "delete", name, "--yes")


def run_python(code: str) -> subprocess.CompletedProcess:
    """`code` in a fresh Python of this venv (which has JupyterHub), after server_start.py's definitions."""
    source = CODE.replace("if __name__ == '__main__':\n    run()", "")
    done = subprocess.run([sys.executable, "-c", source + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.unit
def test_the_database_layer_stays_out_until_something_reads_it_and_then_is_the_real_one():
    done = run_python("""
        leave_out_unused()  # then JupyterHub's modules jupyterhub.singleuser imports (no Jupyter Server here)
        import jupyterhub.log, jupyterhub.metrics, jupyterhub.scopes, jupyterhub.services.auth, jupyterhub.utils
        assert not [m for m in ('alembic', 'sqlalchemy.orm') if m in sys.modules], 'imported at once'
        assert jupyterhub.log.log_request and jupyterhub.metrics.orm is jupyterhub.scopes.orm  # the stand-in
        assert 'jupyterhub.handlers' not in sys.modules and 'jupyterhub.handlers.pages' not in sys.modules
        sys.stderr.write('--- before any use\\n')
        import jupyterhub.objects  # reads orm.Server as it defines its classes: a use
        import jupyterhub.orm as orm
        assert 'alembic' in sys.modules and orm.Server.__module__ == 'jupyterhub.orm'
        assert jupyterhub.metrics.orm.Server is orm.Server and sys.modules['jupyterhub.orm'] is orm
        import jupyterhub.handlers.pages  # the hub's real handlers still import
        assert jupyterhub.handlers.pages.HealthCheckHandler.__module__ == 'jupyterhub.handlers.pages'
    """)
    assert FIRST_USE not in done.stderr.split("--- before any use")[0]
    assert done.stderr.count("localhub: jupyterhub.orm imported on first use (Server)") == 1, done.stderr


@pytest.mark.unit
def test_the_request_log_works_without_the_hubs_pages():
    done = run_python("""
        leave_out_unused()
        import logging
        from types import SimpleNamespace
        from jupyterhub.log import log_request
        from tornado.log import access_log
        logging.basicConfig(stream=sys.stdout, level=logging.INFO, format='%(message)s')
        request = SimpleNamespace(uri='/user/u/s/api/status', method='GET', remote_ip='10.0.0.1', headers={},
                                  request_time=lambda: 0.002)
        handler = SimpleNamespace(get_status=lambda: 200, request=request, current_user={'name': 'u'})
        log_request(handler)
        assert 'alembic' not in sys.modules
    """)
    assert "200 GET /user/u/s/api/status (u@10.0.0.1)" in done.stdout, done.stdout


@pytest.mark.unit
def test_the_garbage_collector_is_back_on_once_the_servers_event_loop_runs():
    done = run_python("""
        import gc
        gc.disable()
        collect_garbage_once_running()
        assert not gc.isenabled()
        from tornado.ioloop import IOLoop
        IOLoop.current().run_sync(lambda: None)  # Jupyter Server takes the current loop as its own
        assert gc.isenabled() and gc.get_freeze_count() > 0
        print('on and frozen')
    """)
    assert done.stdout.strip() == "on and frozen"


@pytest.mark.unit
def test_the_garbage_collector_is_back_on_at_the_latest_after_a_while_without_a_loop():
    done = run_python("""
        import gc, time
        GC_BACK_AFTER = 0.2  # read by the timer's callback at start
        gc.disable()
        collect_garbage_once_running()
        time.sleep(2)
        assert gc.isenabled()
        print('on')
    """)
    assert done.stdout.strip() == "on"


@pytest.mark.unit
def test_a_python3_without_jupyterhub_runs_jupyterhub_singleuser_itself(tmp_path):
    fake = tmp_path / "jupyterhub-singleuser"
    fake.write_text("#!/bin/sh\necho \"ran with: $*\"\n")
    fake.chmod(0o755)
    bare = "/usr/bin/python3"  # the system's Python: no JupyterHub
    if not os.path.exists(bare) or subprocess.run([bare, "-c", "import jupyterhub"], capture_output=True).returncode == 0:
        pytest.skip("needs a python3 without JupyterHub")
    done = subprocess.run([bare, "-I", "-c", CODE, "--ServerApp.ip=0.0.0.0", "--debug"], capture_output=True,
                          text=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ran with: --ServerApp.ip=0.0.0.0 --debug", done


@pytest.mark.unit
def test_the_servers_process_keeps_its_name_in_notices():
    ps_line = " ".join(server_command()[:2]) + " " + CODE.replace("\n", " ") + " --ServerApp.ip=0.0.0.0"
    assert Process(1, 80 * 2**20, ps_line).describe() == "jupyterhub-singleuser (pid 1, 80.0 MiB)"
    assert Process(7, 2**20, f"{sys.executable} -m ipykernel_launcher -f k.json").describe().startswith(
        "a notebook's kernel")
