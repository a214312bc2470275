"""The long-running processes leave out imports they never use (lean.py): jsonschema still validates, without
the IRI parser that its optional `rfc3987_syntax` dependency builds at import."""

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
