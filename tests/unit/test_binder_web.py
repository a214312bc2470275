"""Small decisions of the Binder web service and the sign-in page: CORS answers, where a sign-in returns to,
and that a ?token= never reaches a log line."""

from __future__ import annotations

import pytest

from localhub.cli.hub import next_path
from localhub.errors import LocalhubError
from localhub.hub.auth import login_command
from localhub.hub.binder_web import allowed_origin
from localhub.redact import redact

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("setting", "origin", "answer"), [
    ("", "https://book.example", None),
    ("*", "https://book.example", "*"),
    ("https://a.example https://book.example", "https://book.example", "https://book.example"),
    ("https://a.example", "https://book.example", None),
    ("https://a.example", None, None),
])
def test_allowed_origin(setting, origin, answer):
    assert allowed_origin(setting, origin) == answer


@pytest.mark.parametrize(("uri", "logged"), [
    ("/build/gh/o/r/HEAD?token=abc", "/build/gh/o/r/HEAD?token=[secret]"),
    ("/build/gh/o/r/HEAD?urlpath=lab&token=abc&x=1", "/build/gh/o/r/HEAD?urlpath=lab&token=[secret]&x=1"),
    ("/build/gh/o/r/HEAD?mytoken=abc", "/build/gh/o/r/HEAD?mytoken=abc"),
    ("/build/gh/o/r/HEAD?%74oken=abc", "/build/gh/o/r/HEAD?%74oken=[secret]"),
])
def test_a_token_in_the_query_is_never_logged(uri, logged):
    assert redact(uri) == logged


def test_the_sign_in_page_names_a_command_that_returns_to_the_page():
    assert login_command("/hub/home") == "localhub login"
    assert login_command("") == "localhub login"
    assert login_command("/services/localhub/v2/gh/o/r/HEAD?urlpath=lab") == \
        "localhub login --next '/services/localhub/v2/gh/o/r/HEAD?urlpath=lab'"
    assert "\x1b" not in login_command("/services/localhub/v2/gh/\x1b[2J/r/HEAD")


@pytest.mark.parametrize(("given", "path"), [
    ("/v2/gh/o/r/HEAD", "/v2/gh/o/r/HEAD"),
    ("http://127.0.0.1:8765/v2/gh/o/r/HEAD?urlpath=lab", "/v2/gh/o/r/HEAD?urlpath=lab"),
    ("https://mybinder.org/v2/gh/o/r/HEAD", "/v2/gh/o/r/HEAD"),
    ("http://127.0.0.1:8765", "/"),
])
def test_login_next_is_a_path_of_this_hub(given, path):
    assert next_path(given, "http://127.0.0.1:8765") == path


@pytest.mark.parametrize("given", ["https://elsewhere.example/x", "//evil.example/x", "v2/gh/o/r/HEAD"])
def test_login_next_refuses_other_places(given):
    with pytest.raises(LocalhubError, match="is not a page of this hub"):
        next_path(given, "http://127.0.0.1:8765")



@pytest.mark.parametrize(("allowed", "args"), [
    ("", []),
    ("*", ["--ServerApp.allow_origin=*"]),
    ("https://book.example http://127.0.0.1:8000",
     [r"--ServerApp.allow_origin_pat=^(https://book\.example|http://127\.0\.0\.1:8000)$"]),
])
def test_servers_answer_the_allowed_origins(allowed, args):
    from localhub.hub.spawner import origin_args

    assert origin_args(allowed) == args


@pytest.mark.parametrize("headers, another", [
    ({"Sec-Fetch-Site": "cross-site"}, True), ({"Sec-Fetch-Site": "same-site"}, True),
    ({"Sec-Fetch-Site": "same-origin"}, False), ({"Sec-Fetch-Site": "none"}, False),  # typed, a bookmark
    ({"Referer": "http://evil.example/page"}, True),  # a browser without Fetch Metadata (a stranger found it)
    ({"Origin": "http://evil.example"}, True), ({"Referer": "http://127.0.0.1:8765/services/localhub/"}, False),
    ({"Sec-Fetch-Site": "same-origin", "Referer": "http://evil.example/"}, False),  # the browser's word wins
    ({}, False),  # curl, scripts
])
def test_which_requests_another_site_led_here(headers, another):
    from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

    from localhub.hub.binder_web import from_another_site

    request = HTTPServerRequest(start_line=RequestStartLine("GET", "/v2/local/x", "HTTP/1.1"),
                                headers=HTTPHeaders({"Host": "127.0.0.1:8765", **headers}))
    assert from_another_site(request) is another
