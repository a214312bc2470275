"""A bad profile file in the user's profile dir while the hub runs (issue 10 item 8): every command keeps
working, the file is named with its field wherever profiles are shown, and a profile the engine cannot honour is
refused in one sentence instead of a 500 at start."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.reliability, pytest.mark.docker]

BAD = {
    "gpu.toml": 'name = "gpu"\ndescription = "x"\ncpu = "lots"\nmemory = "2G"\nstorage = "1Gi"\n',
    "tiny.toml": 'name = "tiny"\ndescription = "x"\ncpu = 1\nmemory = "1K"\nstorage = "1Gi"\n',
    "unlimited.toml": 'name = "unlimited"\ndescription = "x"\ncpu = 1\nmemory = "0"\nstorage = "1Gi"\n',
}


@pytest.fixture
def bad_profiles(hub):
    folder = hub.config_dir / "profiles"
    folder.mkdir(exist_ok=True)
    for name, text in BAD.items():
        (folder / name).write_text(text)
    yield folder
    for name in BAD:
        (folder / name).unlink()


def test_a_bad_profile_file_never_breaks_the_running_hub(hub, bad_profiles):
    for command in (["status"], ["servers", "ls"], ["builds", "ls"], ["status", "--json"]):
        proc = hub.cli(*command)
        assert "Traceback" not in proc.stderr
    info = json.loads(hub.cli("status", "--json").stdout)
    warnings = " ".join(info["profile_warnings"])
    assert str(bad_profiles / "gpu.toml") in warnings and "'cpu'" in warnings
    assert "'memory'" in warnings and "no limit at all" in warnings
    assert "gpu.toml" in hub.cli("status").stdout

    for profile, field in (("tiny", "memory"), ("unlimited", "memory"), ("gpu", "cpu")):
        refused = hub.cli("servers", "new", f"with-{profile}", "--profile", profile, check=False)
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        err = refused.stderr.strip()
        assert len(err.splitlines()) == 1 and f"{profile}.toml" in err and f"'{field}'" in err, err
    names = {s["name"] for s in json.loads(hub.cli("servers", "ls", "--json").stdout)}
    assert not names & {"with-tiny", "with-unlimited", "with-gpu"}
