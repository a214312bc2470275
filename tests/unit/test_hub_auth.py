"""The policy check in front of JupyterHub's server API (hub/auth.py asks, the daemon's api_hub.py decides),
with a fake engine and daemon (tests/unit/hub_fakes.py): which rules apply to creating and to starting, what
options a restart is judged by, and how a refusal or a silent daemon reaches the user."""

from __future__ import annotations

import pytest

from localhub import storage
from localhub.hub.auth import launch_options
from localhub.hub.daemon_link import DaemonLink, DaemonRefused, DaemonUnreachable
from tests.unit.hub_fakes import TOKEN, FakeEngine, fake_daemon, serving

pytestmark = pytest.mark.unit


def test_a_start_is_judged_by_the_options_it_brings_else_by_those_stored():
    assert launch_options({"user_options": {"profile": "large"}}, {"profile": "default"}, True) == \
        ({"profile": "large"}, False)
    assert launch_options({}, {"image": "stored"}, True) == ({"image": "stored"}, False)  # a restart
    assert launch_options(None, None, False) == ({}, True)  # a new server, no options


async def test_creating_checks_the_name_only_starting_checks_profile_image_and_storage(tmp_path):
    daemon = fake_daemon(tmp_path)
    async with serving(daemon) as url:
        link = DaemonLink(url, TOKEN)
        with pytest.raises(DaemonRefused, match="Server name 'Bad_Name' is not allowed"):
            await link.check("ana", "Bad_Name", {}, new=True, start=False)
        with pytest.raises(DaemonRefused, match="is 21 characters long; names are at most 20"):
            await link.check("ana", "a" * 21, {}, new=True)
        await link.check("ana", "thesis", {"image": "not-here"}, new=True, start=False)  # image: at start only
        with pytest.raises(DaemonRefused, match="Image 'not-here' is not on this machine"):
            await link.check("ana", "thesis", {"image": "not-here"}, new=True)
        with pytest.raises(DaemonRefused, match="Profile 'huge'|'huge'"):
            await link.check("ana", "thesis", {"profile": "huge"}, new=True)
        await link.check("ana", "thesis", {}, new=True)
        await link.check("ana", "Old_Name", {}, new=False)  # an existing server is not held to today's name rule


async def test_a_server_over_its_storage_cap_may_not_start(tmp_path):
    daemon = fake_daemon(tmp_path)
    volume = storage.home_volume_name(daemon.settings.instance, "ana", "big")
    daemon.docker = FakeEngine(volumes={volume: 3 * 2**30})
    async with serving(daemon) as url:
        with pytest.raises(DaemonRefused, match="Server 'big' uses 3.0 GiB of storage, over its 2.0 GiB cap"):
            await DaemonLink(url, TOKEN).check("ana", "big", {}, new=False)
        await DaemonLink(url, TOKEN).check("ana", "other", {}, new=False)


async def test_only_the_daemons_token_is_heard_and_a_silent_daemon_is_said_so(tmp_path):
    async with serving(fake_daemon(tmp_path)) as url:
        with pytest.raises(DaemonRefused, match="for the hub's own code"):
            await DaemonLink(url, "wrong").check("ana", "thesis", {}, new=True)
        with pytest.raises(DaemonRefused, match="for the hub's own code"):
            await DaemonLink(url, TOKEN[:-1]).check("ana", "thesis", {}, new=True)
    with pytest.raises(DaemonUnreachable, match="did not answer"):
        await DaemonLink(url, TOKEN, timeout=2).check("ana", "thesis", {}, new=True)
