"""hub/auth.py's decisions: the policy check in front of JupyterHub's server API (auth.py asks, the daemon's
api_hub.py decides), with a fake engine and daemon (tests/unit/hub_fakes.py) — which rules apply to creating and
to starting, what options a restart is judged by, how a refusal or a silent daemon reaches the user — and the
sign-in link, with a fake page handler."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from tornado import web

from localhub import storage
from localhub.hub import login_tokens
from localhub.hub.auth import PolicyServerAPIHandler, TokenLoginHandler, launch_options
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


class FakeLoginPage:
    """What TokenLoginHandler.get uses of a JupyterHub page handler, for a hub whose desktop user is ana."""

    def __init__(self, tokens_dir, token="", next_url="/hub/home", signed_in=None):
        self.authenticator = SimpleNamespace(login_tokens_dir=str(tokens_dir), desktop_user="ana")
        self.hub = SimpleNamespace(base_url="/")
        self.token, self.next_url, self.current_user = token, next_url, signed_in
        self.signed_in_as, self.redirected_to = None, None

    def get_argument(self, name, default=""):
        return self.token if name == "token" else default

    def get_next_url(self):
        return self.next_url

    async def auth_to_user(self, model):
        return SimpleNamespace(name=model["name"])

    def set_login_cookie(self, user):
        self.signed_in_as = user.name

    def redirect(self, url):
        self.redirected_to = url


async def test_a_sign_in_link_works_once_and_returns_to_the_page_it_came_from(tmp_path):
    token = login_tokens.issue(tmp_path)
    page = FakeLoginPage(tmp_path, token, next_url="/hub/spawn-pending/ana/x")
    await TokenLoginHandler.get(page)
    assert (page.signed_in_as, page.redirected_to) == ("ana", "/hub/spawn-pending/ana/x")

    again = FakeLoginPage(tmp_path, token, next_url="/services/localhub/v2/gh/o/r/HEAD")
    with pytest.raises(web.HTTPError) as refused:
        await TokenLoginHandler.get(again)
    assert refused.value.status_code == 403 and again.signed_in_as is None
    assert "links work once and expire after a day" in refused.value.log_message
    assert "localhub login --next /services/localhub/v2/gh/o/r/HEAD" in refused.value.log_message

    signed_in = FakeLoginPage(tmp_path, next_url="/hub/home", signed_in=SimpleNamespace(name="ana"))
    await TokenLoginHandler.get(signed_in)
    assert signed_in.redirected_to == "/hub/home" and signed_in.signed_in_as is None  # nothing to sign in
    with pytest.raises(web.HTTPError, match="signs you in with a link. Run `localhub login`"):
        await TokenLoginHandler.get(FakeLoginPage(tmp_path))


class FakeServerAPI:
    """What PolicyServerAPIHandler._check uses of JupyterHub's server API handler: ana has server `old`."""

    def __init__(self, body=None, refuse=None, unreachable=False):
        self.body, self.asked = body, []
        stored = {"old": SimpleNamespace(user_options={"profile": "large"})}
        self.users = {"ana": SimpleNamespace(orm_spawners=stored)}

        async def check(user, server, options, new, start):
            self.asked.append((server, options, new, start))
            if unreachable:
                raise DaemonUnreachable("The localhub daemon did not answer (ConnectError).")
            if refuse:
                raise DaemonRefused(refuse)

        self.authenticator = SimpleNamespace(daemon=SimpleNamespace(check=check))

    def find_user(self, name):
        return self.users.get(name)

    def get_server_json_body(self):
        return self.body


async def test_the_server_api_asks_the_daemon_and_says_its_answer():
    api = FakeServerAPI()
    await PolicyServerAPIHandler._check(api, "ana", "old", start=True)  # a restart: stored options, not new
    await PolicyServerAPIHandler._check(api, "ana", "old", start=False)  # create: held to the name rule
    await PolicyServerAPIHandler._check(FakeServerAPI(), "ana", "fresh", start=True)
    assert api.asked == [("old", {"profile": "large"}, False, True), ("old", {"profile": "large"}, True, False)]
    with pytest.raises(web.HTTPError) as missing:
        await PolicyServerAPIHandler._check(api, "bob", "x", start=True)
    assert missing.value.status_code == 404
    with pytest.raises(web.HTTPError) as refused:
        await PolicyServerAPIHandler._check(FakeServerAPI(refuse="Server name 'X' is not allowed."), "ana", "X",
                                            start=True)
    assert (refused.value.status_code, refused.value.log_message) == (400, "Server name 'X' is not allowed.")
    with pytest.raises(web.HTTPError) as silent:
        await PolicyServerAPIHandler._check(FakeServerAPI(unreachable=True), "ana", "x", start=True)
    assert silent.value.status_code == 503 and "Try again in a moment" in silent.value.log_message
