"""Resolving git-based specs against real repositories made in a temporary directory (no network)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from localhub.binder.errors import URL_LIMIT
from localhub.errors import shown

from localhub.binder import LaunchSpec, ResolveError, parse_link, resolve
from localhub.binder.providers import gitremote
from localhub.binder.quoting import encode_component

pytestmark = pytest.mark.unit

_GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.org",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.org",
}


class Repo:
    """A throwaway git repository driven through the git CLI."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=self.path, env=_GIT_ENV, check=True, capture_output=True, text=True)
        return done.stdout.strip()

    def commit(self, name: str, text: str) -> str:
        (self.path / name).write_text(text)
        self.git("add", name)
        self.git("commit", "-q", "-m", f"write {name}")
        return self.sha("HEAD")

    def sha(self, rev: str) -> str:
        return self.git("rev-parse", rev)

    @property
    def url(self) -> str:
        return self.path.as_uri()


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """main (2 commits), feature/x branch, lightweight tag `light`, annotated tag `v1.0` on the first commit."""
    made = Repo(tmp_path / "origin")
    made.commit("requirements.txt", "numpy\n")
    made.git("tag", "light")
    made.git("tag", "-a", "v1.0", "-m", "release 1.0")
    made.git("branch", "feature/x")
    made.commit("README.md", "hello\n")
    return made


def git_spec(url: str, ref: str) -> LaunchSpec:
    return parse_link(f"git/{encode_component(url)}/{ref}")


# --- git provider over file:// URLs and plain paths -----------------------------------------------------

@pytest.mark.parametrize("form", ["file-url", "path"])
def test_head_is_the_default_branch_tip(repo: Repo, form: str) -> None:
    url = repo.url if form == "file-url" else str(repo.path)
    assert resolve(git_spec(url, "HEAD")) == repo.sha("main")


def test_branch_and_branch_with_slash(repo: Repo) -> None:
    assert resolve(git_spec(repo.url, "main")) == repo.sha("main")
    assert resolve(git_spec(repo.url, "feature/x")) == repo.sha("feature/x")
    assert repo.sha("feature/x") != repo.sha("main")


def test_annotated_tag_resolves_to_the_peeled_commit(repo: Repo) -> None:
    tag_object = repo.sha("v1.0")
    commit = repo.sha("v1.0^{commit}")
    assert tag_object != commit
    assert resolve(git_spec(repo.url, "v1.0")) == commit


def test_lightweight_tag(repo: Repo) -> None:
    assert resolve(git_spec(repo.url, "light")) == repo.sha("light")


def test_full_refname(repo: Repo) -> None:
    assert resolve(git_spec(repo.url, "refs/heads/feature/x")) == repo.sha("feature/x")


def test_tag_wins_over_branch_of_the_same_name_like_git(repo: Repo) -> None:
    repo.git("branch", "same")  # at main's tip
    repo.git("tag", "same", "light")  # at the first commit
    assert resolve(git_spec(repo.url, "same")) == repo.sha("light")


def test_ref_matching_only_a_longer_name_is_not_found(repo: Repo) -> None:
    # ls-remote matches "x" against refs/heads/feature/x; that must not count.
    with pytest.raises(ResolveError) as caught:
        resolve(git_spec(repo.url, "x"))
    assert caught.value.kind == "ref"


def test_a_new_commit_changes_the_id(repo: Repo) -> None:
    before = resolve(git_spec(repo.url, "HEAD"))
    after_sha = repo.commit("data.csv", "1,2\n")
    after = resolve(git_spec(repo.url, "HEAD"))
    assert before != after == after_sha


def test_full_sha_is_returned_without_asking_git(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_git(*args: object, **kwargs: object) -> None:
        raise AssertionError("git must not run for a full sha")

    monkeypatch.setattr(subprocess, "run", no_git)
    sha = "0123456789ABCDEF0123456789abcdef01234567"
    launch = git_spec("https://example.org/does-not-exist.git", sha)
    assert resolve(launch) == sha.lower()


def test_missing_ref_is_a_clear_error(repo: Repo) -> None:
    with pytest.raises(ResolveError) as caught:
        resolve(git_spec(repo.url, "no-such-branch"))
    assert caught.value.kind == "ref"
    assert str(caught.value) == f"Ref 'no-such-branch' was not found in {shown(repo.url, URL_LIMIT)}."


def test_abbreviated_sha_says_to_use_the_full_one(repo: Repo) -> None:
    with pytest.raises(ResolveError, match="full 40-character sha"):
        resolve(git_spec(repo.url, repo.sha("main")[:7]))


@pytest.mark.parametrize("form", ["file-url", "path"])
def test_missing_repository_is_a_clear_error(tmp_path: Path, form: str) -> None:
    missing = tmp_path / "nowhere"
    url = missing.as_uri() if form == "file-url" else str(missing)
    with pytest.raises(ResolveError) as caught:
        resolve(git_spec(url, "HEAD"))
    assert caught.value.kind == "repo"
    assert str(caught.value) == f"Repository {shown(url, URL_LIMIT)} was not found (or is private)."


@pytest.mark.parametrize(
    ("stderr", "kind"),
    [
        ("fatal: unable to access 'https://x.invalid/r.git/': Could not resolve host: x.invalid", "network"),
        ("ssh: Could not resolve hostname example.org: Temporary failure in name resolution", "network"),
        ("fatal: unable to access 'https://h/r.git/': Failed to connect to h port 443: Connection refused", "network"),
        ("remote: Repository not found.\nfatal: repository 'https://github.com/o/r/' not found", "repo"),
        ("fatal: could not read Username for 'https://github.com': terminal prompts disabled", "repo"),
        ("fatal: protocol error: bad line length character", "other"),
    ],
)
def test_git_failures_become_one_sentence(stderr: str, kind: str) -> None:
    error = gitremote._failure("https://h/r.git", stderr)
    assert error.kind == kind
    assert "\n" not in str(error) and str(error).endswith(".")


def test_git_provider_resolution_never_prompts(monkeypatch: pytest.MonkeyPatch, repo: Repo) -> None:
    seen: dict[str, str] = {}
    real_run = subprocess.run

    def spy(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        seen.update(kwargs["env"])  # type: ignore[arg-type]
        return real_run(command, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(subprocess, "run", spy)
    resolve(git_spec(repo.url, "main"))
    assert seen["GIT_TERMINAL_PROMPT"] == "0"
    assert "BatchMode=yes" in seen["GIT_SSH_COMMAND"]


# --- hosted git providers use the same path; prove it offline by pointing at a local clone URL ------------

def test_hosted_providers_ask_git_for_their_clone_url(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, str]] = []
    monkeypatch.setattr(
        "localhub.binder.providers.gh.resolve_remote_ref", lambda url, ref: asked.append((url, ref)) or "a" * 40
    )
    monkeypatch.setattr(
        "localhub.binder.providers.gist.resolve_remote_ref", lambda url, ref: asked.append((url, ref)) or "b" * 40
    )
    monkeypatch.setattr(
        "localhub.binder.providers.gl.resolve_remote_ref", lambda url, ref: asked.append((url, ref)) or "c" * 40
    )
    monkeypatch.setattr(
        "localhub.binder.providers.bb.resolve_remote_ref", lambda url, ref: asked.append((url, ref)) or "d" * 40
    )
    assert resolve(parse_link("gh/org/repo/main")) == "a" * 40
    assert resolve(parse_link("gist/user/abc123/master")) == "b" * 40
    assert resolve(parse_link("gl/group%2Fsub%2Frepo/v1")) == "c" * 40
    assert resolve(parse_link("bb/ws/repo/HEAD")) == "d" * 40
    assert asked == [
        ("https://github.com/org/repo", "main"),
        ("https://gist.github.com/user/abc123.git", "HEAD"),  # gist "master" means the latest revision
        ("https://gitlab.com/group/sub/repo.git", "v1"),
        ("https://bitbucket.org/ws/repo.git", "HEAD"),
    ]


# --- local provider ------------------------------------------------------------------------------------

def test_local_git_repository_resolves_refs(repo: Repo) -> None:
    launch = parse_link(str(repo.path))
    assert launch.ref == "HEAD"
    assert resolve(launch) == repo.sha("HEAD")
    assert resolve(parse_link(f"local/{encode_component(str(repo.path))}/v1.0")) == repo.sha("v1.0^{commit}")
    assert resolve(parse_link(f"local/{encode_component(str(repo.path))}/feature/x")) == repo.sha("feature/x")
    short = repo.sha("main")[:8]
    assert resolve(parse_link(f"local/{encode_component(str(repo.path))}/{short}")) == repo.sha("main")


def test_local_file_url(repo: Repo) -> None:
    assert resolve(parse_link(repo.url)) == repo.sha("HEAD")


def test_local_new_commit_changes_the_id(repo: Repo) -> None:
    launch = parse_link(str(repo.path))
    before = resolve(launch)
    repo.commit("more.txt", "x\n")
    assert resolve(launch) != before


def test_local_missing_ref(repo: Repo) -> None:
    launch = parse_link(f"local/{encode_component(str(repo.path))}/nope")
    with pytest.raises(ResolveError) as caught:
        resolve(launch)
    assert caught.value.kind == "ref"
    assert str(caught.value) == f"Ref 'nope' was not found in the git repository {repo.path}."


def test_local_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    with pytest.raises(ResolveError) as caught:
        resolve(parse_link(str(missing)))
    assert caught.value.kind == "repo"
    assert str(caught.value) == f"Local directory {missing} does not exist."


def test_local_file_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ResolveError, match="is a file, not a directory"):
        resolve(LaunchSpec("local", str(tmp_path / "notes.txt")))


def test_ref_on_a_plain_directory_says_to_drop_it(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    launch = parse_link(f"local/{encode_component(str(tmp_path / 'plain'))}/main")
    with pytest.raises(ResolveError, match="is not a git repository"):
        resolve(launch)


# --- content hash of plain directories ------------------------------------------------------------------

def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "environment.yml").write_text("dependencies: [python=3.11]\n")
    (root / "sub" / "analysis.py").write_text("print(1)\n")
    return root


def test_plain_directory_hash_is_stable_and_content_based(tmp_path: Path) -> None:
    first, second = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    one = resolve(parse_link(str(first)))
    assert one.startswith("sha256-") and len(one) == len("sha256-") + 64
    assert resolve(parse_link(str(first))) == one
    assert resolve(parse_link(str(second))) == one  # same content elsewhere, same id


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "sub" / "analysis.py").write_text("print(2)\n"),
        lambda root: (root / "new.txt").write_text(""),
        lambda root: (root / "sub" / "analysis.py").rename(root / "sub" / "renamed.py"),
        lambda root: (root / "empty").mkdir(),
        lambda root: (root / "environment.yml").chmod(0o755),
        lambda root: (root / "link").symlink_to("environment.yml"),
    ],
    ids=["content", "new-file", "rename", "new-dir", "exec-bit", "symlink"],
)
def test_plain_directory_hash_changes_with_content(tmp_path: Path, change) -> None:
    root = _tree(tmp_path / "a")
    before = resolve(parse_link(str(root)))
    change(root)
    assert resolve(parse_link(str(root))) != before


def test_git_repository_without_ref_hashes_the_work_tree_not_git_metadata(repo: Repo) -> None:
    launch = LaunchSpec("local", str(repo.path))  # no ref: build it as it is on disk
    before = resolve(launch)
    repo.git("branch", "another")  # changes .git only
    assert resolve(launch) == before
    (repo.path / "README.md").write_text("edited\n")
    assert resolve(launch) != before
