"""Property-based fuzzing of the Binder link parser (issue 10, item 14), bounded for CI.

Every input ends in a LaunchSpec that round-trips or in one bounded, escaped sentence (the oracle is
`linkgen.check_link`). `scripts/fuzz_links.py` runs the same strategies for 10^5 inputs and reports figures.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings

from localhub.binder import BadLink, parse_link
from tests.reliability.linkgen import assert_one_sentence, check_link, good_links, hostile_text

pytestmark = pytest.mark.reliability

CI = settings(max_examples=int(os.environ.get("LOCALHUB_FUZZ_EXAMPLES", "1000")), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@CI
@given(hostile_text())
@example("gh/\x1b[2Jx/y/HEAD")
@example("gh/%1B[2Jx/y/HEAD?urlpath=%1B[2J")
@example("/" + "a" * 300)
@example("./" + "a" * 300 + "/x")
@example("local/%2F" + "a" * 300)
@example("git/%2Fetc%2Fpasswd/HEAD")
@example("file:///etc/passwd")
@example("x" * 10_000)
def test_hostile_text_parses_or_is_refused_in_one_sentence(text: str) -> None:
    check_link(text)


@CI
@given(good_links())
@example("gist/user/0123456789abcdef/feature%2Fx")
def test_good_links_parse_and_round_trip(text: str) -> None:
    assert check_link(text) == "parsed"


@pytest.mark.parametrize(("link", "fragment"), [
    ("/" + "a" * 300, "a name in a path is at most 255 bytes"),
    ("git/%2Fetc%2Fpasswd/HEAD", "is a file, not a git repository"),
    ("file:///etc/passwd", "is a file, not a folder"),
    ("git/file%3A%2F%2F%2Fetc/HEAD", "is a folder but not a git repository"),
    ("gh/%1B[2Jx/y/HEAD", r"'\x1b[2Jx' is not a valid GitHub owner name"),
    ("gh/o/r/HEAD?urlpath=%1B[2J", r"'\x1b[2J' holds control characters"),
    ("x" * 10_000, "is 10000 characters long"),
    ("gh/" + "a" * 300 + "/r/HEAD", "is not a valid GitHub owner name"),
], ids=lambda value: repr(value)[:40])
def test_what_used_to_crash_or_pass_is_one_clear_sentence(link: str, fragment: str) -> None:
    with pytest.raises(BadLink) as caught:
        parse_link(link)
    assert fragment in str(caught.value)
    assert_one_sentence(str(caught.value))


@pytest.mark.parametrize("link", ["gh/\x1b[2Jx/y/HEAD", "gh/%1B[2Jx/y/HEAD", "/" + "a" * 300,
                                  "gh/o/r/HEAD?urlpath=%1B]0;owned%07", "x" * 10_000], ids=lambda value: repr(value)[:40])
def test_the_spec_command_answers_hostile_links_with_one_escaped_line(link: str, tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "localhub", "spec", link], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "LOCALHUB_STATE_DIR": str(tmp_path)})
    assert done.returncode == 1 and done.stdout == ""
    err = done.stderr
    assert err.startswith("localhub: ") and err.count("\n") == 1, err
    assert err.rstrip("\n").isprintable() and len(err) < 600, err
