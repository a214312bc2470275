"""The long-running processes leave out imports they never use (lean.py): jsonschema still validates, without
the IRI parser that its optional `rfc3987_syntax` dependency builds at import; httpx still fetches, without its
command-line client. And the daemon's modules load what only a lab, a class or a build needs when it is needed
(tests/integration/test_idle_imports.py checks a real started daemon)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

CHECK = """
from localhub.lean import skip_unused
skip_unused()
import sys, jsonschema
jsonschema.validate({"a": 1}, {"type": "object", "properties": {"a": {"type": "integer"}}})
try:
    jsonschema.validate({"a": "x"}, {"type": "object", "properties": {"a": {"type": "integer"}}})
except jsonschema.ValidationError:
    print("refused", sys.modules.get("rfc3987_syntax"))
"""


def test_jsonschema_validates_without_its_iri_parser():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "refused None"


def test_the_hub_runner_only_runs_jupyterhub_when_run():
    import localhub.hub.run as run  # importing it starts nothing

    assert callable(run.main)


def test_a_command_leaves_the_iri_parser_out_too():
    """`localhub bundle import|inspect` validate the manifest with jsonschema; building the unused IRI parser
    took 2–4 s of each import here (a third of the gap to `docker load`)."""
    code = ("import sys\n"
            "from localhub.cli import main\n"
            "main(['bundle', 'inspect', '/nonexistent/course.lhb'])\n"
            "import jsonschema\n"
            "print('parser', sys.modules.get('rfc3987_syntax'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "parser None", (out.stdout, out.stderr)


FORMATS = """
from localhub.lean import skip_unused
skip_unused()
import sys, jsonschema
checker = jsonschema.Draft7Validator.FORMAT_CHECKER
jsonschema.validate("not a uri", {"type": "string", "format": "uri"}, format_checker=None)
try:
    jsonschema.validate("not a uri", {"type": "string", "format": "uri"}, format_checker=checker)
except jsonschema.ValidationError:
    print("uri checked")
print(sorted(f for f in ("duration", "color", "hostname", "date-time", "json-pointer", "uri-template")
             if f in checker.checkers), "arrow" in sys.modules)
"""


def test_jsonschema_checks_the_uri_format_of_jupyterhubs_events_and_loads_no_unused_checker():
    out = subprocess.run([sys.executable, "-c", FORMATS], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["uri checked", "[] False"]


HTTPX = """
import sys, threading
from http.server import BaseHTTPRequestHandler, HTTPServer
import localhub.cli  # every localhub process starts here
import httpx

class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"hi")
    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Hello)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(httpx.get(f"http://127.0.0.1:{server.server_port}/").text, sys.modules.get("httpx._main"), callable(httpx.main))
"""


def test_httpx_fetches_without_its_command_line_client():
    out = subprocess.run([sys.executable, "-c", HTTPX], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "hi None True"


ON_DEMAND = ("repo2docker", "zeroconf", "cryptography", "localhub.pool.member", "localhub.pool.trust.members",
             "localhub.workshop.classroom", "rich")
DAEMON_IMPORTS = f"""
import sys
from localhub.cli import main
import localhub.daemon
print(sorted(m for m in {ON_DEMAND!r} if m in sys.modules))
"""


def test_the_daemons_modules_leave_lab_class_and_build_code_unimported():
    """What `localhub up` imports before it starts anything; a daemon's start in no lab and no class adds
    none of these either (the integration test), and the unit tests of images, pool and workshop import them
    where they are used (image_labels: repo2docker's version; a lab's member: zeroconf, cryptography)."""
    out = subprocess.run([sys.executable, "-c", DAEMON_IMPORTS], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_image_labels_still_name_the_repo2docker_that_built():
    import repo2docker

    from localhub.images.catalog import LABEL_REPO2DOCKER, image_labels

    assert image_labels("gh/org/repo/main", "0" * 40)[LABEL_REPO2DOCKER] == repo2docker.__version__


PROXY = """
import logging, sys
import localhub.hub.proxy  # the proxy's module, as `python -m localhub.hub.proxy` loads it
import tornado.log
record = logging.LogRecord("tornado.access", logging.INFO, "proxy.py", 1, "200 GET /hub/ 1.00ms", None, None)
print(sys.modules.get("curses"), "_curses" in sys.modules, tornado.log.LogFormatter().format(record).endswith("1.00ms"))
"""


def test_the_proxy_logs_without_curses():
    out = subprocess.run([sys.executable, "-c", PROXY], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None False True"


JUPYTERHUB = """
import sys
import localhub.hub.run as run
sys.argv = ["jupyterhub", "--version"]  # JupyterHub's app, imported and run as the daemon runs it; it prints and ends
try:
    run.main()
except SystemExit:
    pass
import localhub.hub.auth, localhub.hub.spawner, localhub.hub.hub_config  # what its config loads
import mako.exceptions
print(sorted(m for m in ("cryptography", "pygments") if sys.modules.get(m)), mako.exceptions.pygments_html_formatter,
      "jupyterhub.orm" in sys.modules)
"""


def test_jupyterhub_runs_without_cryptography_and_pygments():
    """JupyterHub imports cryptography (for auth_state, never enabled here) and, through alembic's mako, pygments
    whenever they are installed: 11 MiB resident in an idle hub. Run by localhub, it runs as where they are not."""
    out = subprocess.run([sys.executable, "-c", JUPYTERHUB], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[-2] == "[] None True", out.stdout


DAEMON_LEAN = """
import sys
from localhub.lean import HUB, skip_unused
skip_unused(HUB)  # as `localhub up` does before it imports the daemon
import localhub.daemon
import mako.exceptions
print(sys.modules.get("pygments"), mako.exceptions.pygments_html_formatter, "jupyterhub.services.auth" in sys.modules)
"""


def test_the_daemon_runs_without_pygments():
    out = subprocess.run([sys.executable, "-c", DAEMON_LEAN], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None None True"
