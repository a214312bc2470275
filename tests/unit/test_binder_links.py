"""parse_link over the link corpus (binder_links.toml), the malformed corpus, round trips and a fuzz run."""

from __future__ import annotations

import random
import subprocess
import tomllib
from pathlib import Path

import pytest

from localhub.binder import BadLink, LaunchSpec, parse_link
from localhub.binder.quoting import encode_component

pytestmark = pytest.mark.unit

CORPUS = tomllib.loads((Path(__file__).parent / "binder_links.toml").read_text(encoding="utf-8"))
GOOD = CORPUS["link"]
BAD = CORPUS["bad"]


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A working directory with `plain/` (no git) and `repo/` (a git repository), as the corpus expects."""
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "environment.yml").write_text("dependencies: [python]\n")
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    monkeypatch.chdir(tmp_path)
    return {"tmp": str(tmp_path), "tmp_q": encode_component(str(tmp_path))}


def _fill(value: str, places: dict[str, str]) -> str:
    for key, text in places.items():
        value = value.replace("{" + key + "}", text)
    return value


def test_corpus_is_big_and_covers_every_provider() -> None:
    assert len(GOOD) >= 45
    providers = {entry["expect"]["provider"] for entry in GOOD}
    assert providers == {
        "gh", "gl", "gist", "git", "zenodo", "figshare", "hydroshare", "dataverse", "ckan", "swh", "bb", "local"
    }


@pytest.mark.parametrize("entry", GOOD, ids=[entry["link"][:70] for entry in GOOD])
def test_link_corpus(entry: dict, scratch: dict[str, str]) -> None:
    expect = {key: _fill(value, scratch) for key, value in entry["expect"].items()}
    expect.setdefault("ref", None)
    expect.setdefault("urlpath", None)
    launch = parse_link(_fill(entry["link"], scratch))
    assert launch.to_dict() == expect


@pytest.mark.parametrize("entry", GOOD, ids=[entry["link"][:70] for entry in GOOD])
def test_spec_and_launch_path_round_trip(entry: dict, scratch: dict[str, str]) -> None:
    launch = parse_link(_fill(entry["link"], scratch))
    assert parse_link(launch.spec).to_dict() == {**launch.to_dict(), "urlpath": None}
    assert parse_link(launch.binder_path()) == launch
    assert parse_link("https://hub.example.net" + launch.binder_path()) == launch


@pytest.mark.parametrize("entry", BAD, ids=[repr(entry["link"])[:70] for entry in BAD])
def test_malformed_corpus(entry: dict) -> None:
    with pytest.raises(BadLink) as caught:
        parse_link(entry["link"])
    message = str(caught.value)
    assert entry["message"] in message
    _assert_one_sentence(message)


def _assert_one_sentence(message: str) -> None:
    assert "\n" not in message
    assert message.endswith(".")
    assert len(message) < 400


def test_bad_link_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_link("gh/user/repo")


def test_non_string_input_is_a_bad_link() -> None:
    with pytest.raises(BadLink, match="must be text"):
        parse_link(None)  # type: ignore[arg-type]


def test_plain_url_keeps_no_binder_query() -> None:
    # Query strings of repository pages are not launch options.
    assert parse_link("https://github.com/org/repo?tab=readme").urlpath is None


def test_legacy_links_follow_the_default_branch() -> None:
    assert parse_link("https://mybinder.org/repo/org/repo").ref == "HEAD"


def test_existing_relative_directory_beats_nothing(scratch: dict[str, str]) -> None:
    assert parse_link("plain") == LaunchSpec("local", scratch["tmp"] + "/plain")


def test_local_directory_named_like_a_legacy_link(scratch: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "repo" / "user" / "name").mkdir(parents=True)
    launch = parse_link("repo/user/name")
    assert launch.provider == "local"


# --- fuzzing: no string may end in anything but a LaunchSpec or a BadLink ------------------------------

_FRAGMENTS = [
    "https://", "http://", "file://", "ssh://", "git@", "mybinder.org", "localhost:8765", "github.com", "gitlab.com",
    "gist.github.com", "bitbucket.org", "zenodo.org", "figshare.com", "doi.org", "hydroshare.org",
    "archive.softwareheritage.org", "/v2/", "v2/", "/repo/", "gh/", "gl/", "git/", "gist/", "bb/", "zenodo/",
    "figshare/", "hydroshare/", "dataverse/", "ckan/", "swh/", "local/", "swh:1:dir:", "swh:1:rev:", "doi:",
    "10.5281/zenodo.", "10.6084/m9.figshare.", "10.7910/DVN/", "/dataset/", "/history/", "dataset.xhtml",
    "?persistentId=doi:", "/-/tree/", "/tree/", "/blob/", "/commit/", "/src/", "/releases/tag/", "?urlpath=",
    "&labpath=", "&filepath=", "%2F", "%3A", "%", "%zz", "%00", "?", "#", "&", "=", "..", "/", "//", ":", "@", "~",
    ";", "[", "]", "\\", " ", "\t", "\x00", "é", "😀", "HEAD", "main", "org", "repo", ".git", "-", "0" * 40,
    "d198bc9d7a6bcf6db04f476d29314f157507d505", "8f7c2f0341ef4180b0dbe97f59130756", "3242074", ".v1", "^{}",
]


def _fuzz_strings(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        pieces = rng.choices(_FRAGMENTS, k=rng.randint(1, 9))
        if rng.random() < 0.3:
            pieces.append("".join(chr(rng.randint(0, 0x2FF)) for _ in range(rng.randint(1, 6))))
        out.append("".join(pieces))
    return out


GARBAGE = [
    "/", "//", "///", "?", "#", "%", "v2", "/v2", "v2/", "/v2/", "/v2//", "v2/gh", "v2/gh/", "repo", "/repo/",
    "/repo//x", "gh/", "gh//", "gh///", "gh////", "gh/a/b/", "git/", "git//HEAD", "gl/%2F/x", "local/", "local//x",
    "swh:", "swh:1", "doi:", "10.", "https://", "http://:80", "https://:@/", "https://github.com",
    "https://github.com/",
    "file://", "file:", "ssh://", "git@:", "@:", "https://mybinder.org/v2/gh/o/r/HEAD?urlpath=%", "😀", "\x00",
    "https://[", "http://[::1]:99999/v2/gh/o/r/HEAD", "https://mybinder.org/v2/git/%ZZ/HEAD", "a" * 5000,
    "gh/" + "a/" * 500, "https://zenodo.org/records/", "https://gitlab.com/-/tree/x", "ckan/%", "hydroshare/%%",
]


@pytest.mark.parametrize("text", GARBAGE)
def test_garbage_raises_nothing_but_bad_link(text: str) -> None:
    _check_never_crashes(text)


def test_fuzz_raises_nothing_but_bad_link() -> None:
    failures = []
    for text in _fuzz_strings(4000, seed=20240601):
        try:
            _check_never_crashes(text)
        except Exception as err:  # collect them all: one report beats 4000 test ids
            failures.append(f"{text!r}: {type(err).__name__}: {err}")
    assert not failures, "\n".join(failures[:20])


def _check_never_crashes(text: str) -> None:
    try:
        launch = parse_link(text)
    except BadLink as err:
        _assert_one_sentence(str(err))
        return
    # Whatever parses must also print and parse back to itself.
    assert set(launch.to_dict()) == {"provider", "repo", "ref", "urlpath", "spec"}
    assert parse_link(launch.binder_path()) == launch
