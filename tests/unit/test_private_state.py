"""The state dir is private and no log record carries a credential (state.py, redact.py)."""

from __future__ import annotations

import io
import logging
import os
import stat
from pathlib import Path

import pytest

from localhub.errors import LocalhubError
from localhub.redact import hide_secrets, redact
from localhub.state import StateDir, write_atomic

pytestmark = pytest.mark.unit


def mode(path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_prepare_makes_a_new_state_dir_private(tmp_path):
    state = StateDir(tmp_path / "state")
    state.prepare()
    for d in (state.root, state.secrets, state.logs, state.builds, state.login_tokens):
        assert mode(d) == 0o700, d
    assert mode(state.cookie_secret) == 0o600
    with state.open_log("daemon.log") as log:
        log.write(b"x")
    assert mode(state.logs / "daemon.log") == 0o600
    state.write_runtime({"a": 1})
    assert mode(state.runtime_file) == 0o600
    write_atomic(state.root / "launches.json", "[]")
    assert mode(state.root / "launches.json") == 0o600


def test_prepare_tightens_what_an_older_localhub_left_readable(tmp_path):
    root = tmp_path / "state"
    (root / "logs").mkdir(parents=True)
    for path in (root / "jupyterhub.sqlite", root / "logs" / "daemon.log", root / "runtime.json"):
        path.write_text("old")
        os.chmod(path, 0o644)
    os.chmod(root, 0o755)
    os.chmod(root / "logs", 0o755)
    os.symlink("/etc/hostname", root / "logs" / "link")
    StateDir(root).prepare()
    assert mode(root) == 0o700 and mode(root / "logs") == 0o700
    assert {mode(p) for p in (root / "jupyterhub.sqlite", root / "logs" / "daemon.log", root / "runtime.json")} == {0o600}
    assert mode(root / "jupyterhub.sqlite") == 0o600
    assert (root / "jupyterhub.sqlite").read_text() == "old"  # contents untouched
    assert mode(root / "logs" / "link") == 0o777  # a link is not followed: /etc/hostname keeps its mode


def test_a_folder_of_other_files_is_refused_and_left_as_it_was(tmp_path):
    """Before: `--state-dir ''` (the current folder) or a project folder had every file's group and other
    permissions taken away, recursively, and the hub's files written among them."""
    home = tmp_path / "home"
    (home / "repos").mkdir(parents=True)
    (home / ".bashrc").write_text("alias ll='ls -l'\n")
    (home / "repos" / "run.sh").write_text("echo hi\n")
    os.chmod(home / ".bashrc", 0o644)
    os.chmod(home / "repos" / "run.sh", 0o755)
    os.chmod(home, 0o755)
    with pytest.raises(LocalhubError, match=r"already holds other files \(\.bashrc and 1 more\).*folder of its own"):
        StateDir(home).prepare()
    assert (mode(home), mode(home / ".bashrc"), mode(home / "repos" / "run.sh")) == (0o755, 0o644, 0o755)
    assert sorted(p.name for p in home.iterdir()) == [".bashrc", "repos"]


def test_an_empty_folder_becomes_a_state_dir_and_is_known_again(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    StateDir(root).prepare()
    assert (root / ".localhub-state").exists() and mode(root) == 0o700
    (root / "launches.json").write_text("[]")
    StateDir(root).prepare()  # its own files do not make it a stranger's folder


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_another_users_folder_is_refused(tmp_path):
    """Before: a world-writable folder another user owned was taken, and that user could swap its secrets."""
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    os.chown(shared, 65534, 65534)
    with pytest.raises(LocalhubError, match="belongs to another user"):
        StateDir(shared).prepare()
    assert list(shared.iterdir()) == [] and mode(shared) == 0o1777


@pytest.mark.parametrize("line, kept", [
    ("403 GET /hub/api/users?token=abc123 (127.0.0.1)", "403 GET /hub/api/users?token=[secret] (127.0.0.1)"),
    ("GET /build/gh/o/r/HEAD?x=1&token=abc&y=2", "GET /build/gh/o/r/HEAD?x=1&token=[secret]&y=2"),
    ("GET /oauth_callback?code=c0de&state=s", "GET /oauth_callback?code=[secret]&state=s"),
    ("GET /hub/login?next=%2Fhub%2Fhome&TOKEN=abc", "GET /hub/login?next=%2Fhub%2Fhome&TOKEN=[secret]"),
    ("a sentence without parameters", "a sentence without parameters"),
    # the key as a server reads it: percent-decoded, in any case, after ';' too
    ("403 GET /user/U/good/api/status?%74oken=9e90ab (127.0.0.1)",
     "403 GET /user/U/good/api/status?%74oken=[secret] (127.0.0.1)"),
    ("GET /user/U/good/api/status?tok%65n=9e90ab&%54%4F%4B%45%4E=9e90ab",
     "GET /user/U/good/api/status?tok%65n=[secret]&%54%4F%4B%45%4E=[secret]"),
    ("GET /user/U/good/lab?Token=9e90ab", "GET /user/U/good/lab?Token=[secret]"),
    ("GET /user/U/good/lab;token=9e90ab", "GET /user/U/good/lab;token=[secret]"),
    ("GET /user/U/good/lab?x=1;ToKeN=9e90ab&y=2", "GET /user/U/good/lab?x=1;ToKeN=[secret]&y=2"),
    ("GET /x?%2574oken=9e90ab", "GET /x?%2574oken=[secret]"),  # a log of a logged URL
    # a URL inside a parameter, with its separators encoded or not
    ("GET /hub/login?next=%2Fuser%2FU%2Flab%3Ftoken%3D9e90ab%26x%3D1",
     "GET /hub/login?next=%2Fuser%2FU%2Flab%3Ftoken%3D[secret]%26x%3D1"),
    ("GET /hub/login?next=/user/U/lab?token=9e90ab", "GET /hub/login?next=/user/U/lab?token=[secret]"),
    # only credentials
    ("GET /x?tokens=1&mytoken=2&next=a%3Db", "GET /x?tokens=1&mytoken=2&next=a%3Db"),
])
def test_credentials_in_urls_are_redacted(line, kept):
    assert redact(line) == kept


@pytest.mark.parametrize("text", ["?a=" + "%3F" * 20000, "?" + "a" * 50000 + "=", "?a=" + "%3Fa%3D" * 5000,
                                  "?" + "%3" * 30000])
def test_hostile_lines_are_redacted_without_failing(text):
    assert redact(text).startswith("?")


def test_a_servers_log_is_redacted_line_by_line_even_when_a_secret_is_split():
    from localhub.hub.servers_web import LineRedactor

    lines = LineRedactor()
    shown = lines.feed(b"[I] 403 GET /user/U/good/api/status?%74o") + lines.feed(b"ken=9e90ab (1.2.3.4)\n[I] GET /l;")
    shown += lines.feed(b"Token=9e90ab\n") + lines.feed(b"[W] no newline?token=9e90ab") + lines.rest()
    assert b"9e90ab" not in shown and shown.count(b"[secret]") == 3
    assert shown.startswith(b"[I] 403 GET /user/U/good/api/status?%74oken=[secret] (1.2.3.4)\n[I] GET /l;Token=")


def test_every_log_record_of_the_process_is_redacted():
    stream = io.StringIO()
    logger = logging.getLogger("localhub.test-redact")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        hide_secrets()
        hide_secrets()  # once is enough; twice is harmless
        logger.warning("%d %s: %s", 403, "GET /x?token=s3cret (127.0.0.1)", "Missing or invalid credentials")
        logger.warning("GET /y?access_token=s3cret")
    finally:
        logger.removeHandler(handler)
    assert "s3cret" not in stream.getvalue() and stream.getvalue().count("[secret]") == 2


def test_an_unreadable_state_dir_of_ones_own_is_one_sentence(tmp_path, monkeypatch):
    """A folder of one's own made unreadable (chmod 000; root reads through that, so the refusal of the kernel
    is played here) was an unexpected error."""
    root = tmp_path / "state"
    root.mkdir()

    def refused(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "iterdir", refused)
    with pytest.raises(LocalhubError, match=r"cannot be read \(Permission denied\).*chmod 700"):
        StateDir(root).claim()
