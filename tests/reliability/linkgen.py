"""Hypothesis strategies for Binder links, and the oracle every input must satisfy (issue 10, item 14).

Used by tests/reliability/test_link_fuzz.py (bounded, in CI) and scripts/fuzz_links.py (the long run).

The oracle: `parse_link` either returns a LaunchSpec that prints and parses back to itself (its spec and its
/v2/ path), or raises BadLink whose text is one sentence: one line, every character printable (control
characters escaped), at most MESSAGE_LIMIT characters, ending with a period. Anything else is a crash.
"""

from __future__ import annotations

import string
from dataclasses import replace
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

from localhub.binder import BadLink, parse_link
from localhub.binder.providers.refs import is_valid_ref
from localhub.binder.quoting import encode_ref

MESSAGE_LIMIT = 500

# --- hostile text ------------------------------------------------------------------------------------

FRAGMENTS = [
    "https://", "http://", "file://", "file:///etc/passwd", "ssh://", "git@", "mybinder.org", "localhost:8765",
    "github.com/", "gitlab.com/", "gist.github.com/", "bitbucket.org/", "zenodo.org/records/", "doi.org/",
    "/v2/", "v2/", "/repo/", "gh/", "gl/", "git/", "gist/", "bb/", "zenodo/", "figshare/", "hydroshare/",
    "dataverse/", "ckan/", "swh/", "local/", "swh:1:dir:", "doi:", "10.5281/zenodo.", "/dataset/", "/-/tree/",
    "/tree/", "/blob/", "?urlpath=", "&labpath=", "?filepath=", "&urlpath=tree/", "%2F", "%2Fetc%2Fpasswd",
    "%3A", "%", "%zz", "%00", "%1B", "%1B[2J", "%C2%85", "%E2%80%AE", "\x1b[2J", "\x1b]0;title\x07", "\u202e",
    "\u2028", "?", "#", "&", "=", "..", "/", "//", ":", "@", "~", ";", "\\", " ", "\t", "\n", "\x00", "é", "😀",
    "HEAD", "main", "org", "repo", ".git", "-", "0" * 40, "0123456789abcdef", "/tmp", "/proc/self",
    "a" * 256, "b" * 300 + "/", "%2F" + "c" * 260,
]


def hostile_text() -> st.SearchStrategy[str]:
    pieces = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6))
    return st.one_of(
        st.text(max_size=80),
        st.lists(pieces, min_size=1, max_size=10).map("".join),
        st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=12_000),
    )


# --- links that should be good (and so must round-trip) ---------------------------------------------

NAME = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,15}", fullmatch=True).filter(lambda n: n not in (".", ".."))
REF = st.one_of(
    st.sampled_from(["HEAD", "main", "master", "v1.0", "feature/x", "release/2.x", "a" * 40]),
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_./@+-]{0,24}", fullmatch=True).filter(is_valid_ref),
    st.text(alphabet=string.ascii_letters + string.digits + "-_./!$&'()*+,;=%é", min_size=1, max_size=20)
      .filter(is_valid_ref),
)
HEX = st.text(alphabet="0123456789abcdef", min_size=6, max_size=32)
URLPATH = st.one_of(st.none(), st.sampled_from(["lab", "lab/tree/a b.ipynb", "tree/docs/index.ipynb", "rstudio"]),
                    st.text(max_size=20).filter(str.isprintable))


def _spec_body() -> st.SearchStrategy[str]:
    def gh(owner, repo, ref):
        return f"gh/{owner}/{repo}/{encode_ref(ref)}"

    def gist(user, gist_id, ref):
        return f"gist/{user.replace('_', '-').replace('.', '-')}/{gist_id}/{encode_ref(ref)}"

    def gl(group, project, ref):
        return f"gl/{quote(group + '/' + project, safe='')}/{encode_ref(ref)}"

    def git(host, path, ref):
        return f"git/{quote(f'https://{host}.example/{path}.git', safe='')}/{encode_ref(ref)}"

    return st.one_of(
        st.builds(gh, NAME, NAME, REF),
        st.builds(gist, NAME, HEX, REF),
        st.builds(gl, NAME, NAME, REF),
        st.builds(lambda o, r, ref: f"bb/{o}/{r}/{encode_ref(ref)}", NAME, NAME, REF),
        st.builds(git, st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), NAME, REF),
        st.builds(lambda n: f"zenodo/10.5281/zenodo.{n}", st.integers(1, 10**9)),
        st.builds(lambda n, v: f"figshare/10.6084/m9.figshare.{n}.v{v}", st.integers(1, 10**9), st.integers(1, 99)),
        st.builds(lambda h: f"hydroshare/{h}", st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)),
        st.builds(lambda h: f"swh/swh:1:dir:{h}", st.text(alphabet="0123456789abcdef", min_size=40, max_size=40)),
    )


def good_links() -> st.SearchStrategy[str]:
    def link(host, body, urlpath, form):
        query = "" if urlpath is None else "?" + urlencode({"urlpath": urlpath})
        if form == "bare":
            return body + query
        return f"{host}/v2/{body}{query}"

    hosts = st.sampled_from(["https://mybinder.org", "http://127.0.0.1:8765", "https://hub.example.edu/binder", ""])
    return st.builds(link, hosts, _spec_body(), URLPATH, st.sampled_from(["url", "bare"]))


# --- the oracle --------------------------------------------------------------------------------------

def check_link(text: str) -> str:
    """"parsed" or "refused"; AssertionError when the parser breaks its promise, any other exception when
    it crashes."""
    try:
        launch = parse_link(text)
    except BadLink as err:
        assert_one_sentence(str(err))
        return "refused"
    for field in (launch.repo, launch.ref, launch.urlpath):
        assert field is None or field.isprintable(), f"{launch} carries a control character"
    spec = parse_link(launch.spec)
    assert spec == replace(launch, urlpath=None), f"{text!r} → {launch.spec!r} → {spec}"
    assert parse_link(launch.binder_path()) == launch, f"{text!r} → {launch.binder_path()!r} does not come back"
    return "parsed"


def assert_one_sentence(message: str) -> None:
    assert message.isprintable(), f"unescaped control character in {message!r}"
    assert len(message) <= MESSAGE_LIMIT, f"a {len(message)}-character message: {message[:200]!r}…"
    assert message.endswith("."), f"not a sentence: {message!r}"
