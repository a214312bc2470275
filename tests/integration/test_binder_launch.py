"""Binder launches end to end on the real engine: a link becomes a repo2docker build (once) and a named
server, through the hub's proxy exactly as a Binder client or the CLI reaches it.

One hub of its own (so `builds_started` counts only these builds); every repository is a case from
tests/cases committed into a tmp git repository and named by a `file://` URL with URL-encoded slashes,
which must cross the proxy still encoded. At the end the hub is closed (containers, volumes, network) and
every image built for these repositories is removed.
"""

from __future__ import annotations

import html
import json
import shlex
import subprocess
import threading
from contextlib import closing
from types import SimpleNamespace
from urllib.parse import quote

import docker
import httpx
import pytest

from localhub.binder import ResolveError, parse_spec, resolve
from localhub.images.catalog import image_name
from tests.support.binder import (
    BUILD_PHASES,
    CaseRepo,
    GitDaemon,
    api,
    builds_started,
    contents,
    delete_server,
    git_spec,
    image_state_under,
    images_under,
    read_build,
    remove_images_under,
    run_in_kernel,
    server_base,
    server_containers,
    servers,
)

pytestmark = pytest.mark.docker

URLPATH_QUERY = "urlpath=lab%2Ftree%2Findex.ipynb"


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    return tmp_path_factory.mktemp("binder-repos")


BOOK_ORIGIN = "https://book.example"  # a page of another origin that may read /build/ (cors_allow_origin)


@pytest.fixture(scope="module")
def bhub(hub_factory, repos):
    hub = hub_factory.start("binder", cors_allow_origin=BOOK_ORIGIN)
    yield hub
    hub_factory.close(hub)  # containers first: an image in use cannot be removed
    remove_images_under(repos)


@pytest.fixture(autouse=True)
def _tidy(request):
    """Servers a test started are deleted with their homes when it ends."""
    if "bhub" not in request.fixturenames:
        yield
        return
    hub = request.getfixturevalue("bhub")
    before = set(servers(hub))
    yield
    for name in sorted(set(servers(hub)) - before):
        delete_server(hub, name)


@pytest.fixture(scope="module")
def first(bhub, repos):
    """The Dockerfile case launched once by its encoded git/file:// link with a urlpath."""
    repo = CaseRepo("dockerfile-basic", repos, "first")
    builds = builds_started(bhub)
    stream = read_build(bhub.url, repo.spec(), bhub.token, query=URLPATH_QUERY)
    return SimpleNamespace(repo=repo, stream=stream, builds_before=builds)


def raw_path(response) -> str:
    """Where a response was answered, still percent-encoded (httpx's url.path decodes %2F)."""
    return response.url.raw_path.decode().split("?")[0]


def ready(stream) -> dict:
    assert stream.last.get("phase") == "ready", f"the launch did not end ready:\n{stream.describe()}"
    return stream.last


def nothing_made(hub, repos):
    """What a refused launch must leave unchanged."""
    return {
        "servers": set(servers(hub)),
        "containers": {c.id for c in hub.containers()},
        "images": image_state_under(repos),
        "builds": builds_started(hub),
    }


def assert_one_clear_failure(stream, *fragments):
    failed = [e for e in stream.events if e.get("phase") == "failed"]
    assert len(failed) == 1 and stream.last is failed[0], stream.describe()
    message = failed[0]["message"]
    assert "Traceback" not in message and len(message.strip().splitlines()) == 1, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def assert_one_sentence_on_stderr(proc, *fragments):
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    err = proc.stderr.strip()
    assert err.startswith("localhub: ") and len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err


# --- 1. a git link launched through the proxy ----------------------------------------------------

def test_encoded_git_link_builds_and_launches_through_the_proxy(bhub, first):
    stream, repo = first.stream, first.repo
    assert stream.status == 200 and stream.content_type.startswith("text/event-stream")
    assert stream.phases == list(BUILD_PHASES), stream.describe()
    done = ready(stream)
    assert builds_started(bhub) == first.builds_before + 1

    base = server_base(bhub, "first")
    assert done["server"] == "first"
    assert done["url"] == f"{base}/lab/tree/index.ipynb"  # the urlpath is honoured
    assert done["token"] and done["imageName"].startswith("localhub-env/")
    (built,) = [e for e in stream.events if e["phase"] == "built"]
    assert built["imageName"] == done["imageName"]
    assert done["binder_request"] == f"v2/{repo.spec()}"

    # the spec reached the service with its slashes still encoded: it is what the server and image carry
    assert servers(bhub)["first"]["user_options"]["spec"] == repo.spec()
    with closing(docker.from_env()) as engine:
        labels = engine.images.get(done["imageName"]).labels
    assert labels["localhub.spec"] == repo.spec() and labels["localhub.resolved"] == repo.head
    assert labels["localhub.test"] == "1"

    headers = {"Authorization": f"token {done['token']}"}
    with httpx.Client(timeout=30, headers=headers) as http:
        assert http.get(f"{base}/api/status").status_code == 200
        page = http.get(done["url"])
        assert page.status_code == 200 and "JupyterLab" in page.text
    listing = contents(bhub, "first", done["token"])
    assert listing.status_code == 200
    assert {"index.ipynb", "Dockerfile", "README.md"} <= {item["name"] for item in listing.json()["content"]}

    (container,) = server_containers(bhub, "first", running_only=True)
    assert container.image.tags == [done["imageName"]]
    result = container.exec_run(["env"])
    assert result.exit_code == 0
    env = dict(line.split("=", 1) for line in result.output.decode().splitlines() if "=" in line)
    assert env["BINDER_REQUEST"] == f"v2/{repo.spec()}"
    assert env["BINDER_PERSISTENT_REQUEST"] == f"v2/{repo.spec(repo.head)}"
    assert env["BINDER_REPO_URL"] == repo.url
    assert env["BINDER_REF_URL"] == repo.url
    assert env["BINDER_LAUNCH_HOST"] == f"{bhub.url}/"


# --- 1b. every launch is traced (launch_trace.py) ------------------------------------------------

def trace_steps(event: dict) -> list[str]:
    trace = event["trace"]
    assert all(step["seconds"] >= 0 for step in trace["steps"]), trace
    assert sum(step["seconds"] for step in trace["steps"]) == pytest.approx(trace["total"], abs=0.01), trace
    return [step["step"] for step in trace["steps"]]


def test_each_launch_says_where_its_time_went(bhub, repos):
    repo = CaseRepo("dockerfile-basic", repos, "traced")  # its own server: this test stops it
    done = ready(read_build(bhub.url, repo.spec(), bhub.token))
    # the spawner's own marks (container started, server answered) came through JupyterHub's ready event
    assert trace_steps(done) == ["resolve", "build", "start container", "server ready", "route added",
                                 "first response"]
    client = bhub.client
    assert client.server("traced").last_launch == done["trace"]
    (env,) = [e for e in client.environments() if e["image"] == done["imageName"]]
    assert env["last_launch"] == done["trace"]

    client.stop_server("traced")
    again = ready(read_build(bhub.url, repo.spec(), bhub.token))
    assert trace_steps(again) == ["resolve", "find image", "start container", "server ready", "route added",
                                  "first response"]
    running = ready(read_build(bhub.url, repo.spec(), bhub.token))
    assert trace_steps(running) == ["resolve", "find image", "server running", "first response"]


# --- 2. the repository's notebook runs in the server's kernel ------------------------------------

def test_notebook_cells_run_in_the_servers_kernel(bhub, first):
    done = ready(first.stream)
    notebook = contents(bhub, "first", done["token"], "index.ipynb").json()["content"]
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    assert cells == ['print("hello from localhub")']

    base = server_base(bhub, "first")
    outputs = run_in_kernel(base, done["token"],
                            cells + ["6 * 7", "import os; print(os.environ['BINDER_REQUEST'])", "1 / 0"])
    assert [o["status"] for o in outputs] == ["ok", "ok", "ok", "error"]
    assert outputs[0]["stdout"] == "hello from localhub\n"
    assert outputs[1]["result"] == "42"
    assert outputs[2]["stdout"] == f"v2/{first.repo.spec()}\n"
    assert outputs[3]["error"].startswith("ZeroDivisionError")

    with httpx.Client(timeout=30, headers={"Authorization": f"token {done['token']}"}) as http:
        assert http.get(f"{base}/api/kernels").json() == []  # shut down again


# --- 2b. old mybinder badges: filepath= and urlpath=tree/… open Notebook 7's classic pages ----------

@pytest.mark.parametrize(("query", "opens", "lands"), [
    ("filepath=index.ipynb", "/tree/index.ipynb", "/notebooks/index.ipynb"),
    ("urlpath=tree%2F", "/tree/", "/tree"),
])
def test_old_binder_badges_open_the_classic_pages(bhub, first, query, opens, lands):
    done = ready(read_build(bhub.url, first.repo.spec(), bhub.token, query=query))
    base = server_base(bhub, done["server"])
    assert done["url"] == base + opens
    with httpx.Client(timeout=30, follow_redirects=True, headers={"Authorization": f"token {done['token']}"}) as http:
        page = http.get(done["url"])
    assert page.status_code == 200, f"{done['url']} answered {page.status_code}"
    assert page.url.path.startswith(f"/user/{bhub.user}/{done['server']}{lands}"), page.url


# --- 3. build once, launch many; new commits rebuild once and keep the home ----------------------

def test_build_once_launch_many_and_rebuild_keeps_the_home(bhub, repos):
    repo = CaseRepo("dockerfile-basic", repos, "reuse")
    builds = builds_started(bhub)
    one = ready(read_build(bhub.url, repo.spec(), bhub.token))
    name = one["server"]
    assert name == "reuse" and builds_started(bhub) == builds + 1
    (c1,) = server_containers(bhub, name, running_only=True)

    # the user works in the home: a new file, and an edit of a file that came with the repository
    headers = {"Authorization": f"token {one['token']}"}
    with httpx.Client(timeout=30, headers=headers) as http:
        for path, text in (("notes.txt", "my own notes"), ("README.md", "# my edits\n")):
            put = http.put(f"{server_base(bhub, name)}/api/contents/{path}",
                           json={"type": "file", "format": "text", "content": text})
            assert put.status_code in (200, 201), put.text

    # the same link again: no build, the same server and container, the files still there
    again = read_build(bhub.url, repo.spec(), bhub.token)
    two = ready(again)
    assert builds_started(bhub) == builds + 1
    assert (two["server"], two["url"], two["imageName"]) == (name, one["url"], one["imageName"])
    assert any("Found built image" in m for m in again.messages("built")), again.describe()
    assert "building" not in again.phases
    (c2,) = server_containers(bhub, name, running_only=True)
    assert c2.id == c1.id
    assert contents(bhub, name, two["token"], "notes.txt").json()["content"] == "my own notes"

    # a new commit: exactly one more build; the same server restarts on the new image; the home is kept
    sha = repo.commit("upstream change", {"README.md": "# changed upstream\n", "added.txt": "from commit two\n"})
    moved = read_build(bhub.url, repo.spec(), bhub.token)
    three = ready(moved)
    assert builds_started(bhub) == builds + 2
    assert three["server"] == name and three["url"] == one["url"]
    assert three["imageName"] != one["imageName"] and three["imageName"].endswith(":" + sha[:12])
    assert any("Restarting server" in m for m in moved.messages("launching")), moved.describe()
    (c3,) = server_containers(bhub, name, running_only=True)
    with closing(docker.from_env()) as engine:
        assert c3.id != c1.id and c3.image.id == engine.images.get(three["imageName"]).id
    assert contents(bhub, name, three["token"], "notes.txt").json()["content"] == "my own notes"
    assert contents(bhub, name, three["token"], "README.md").json()["content"] == "# my edits\n"
    assert len(server_containers(bhub, name)) == 1

    # rebuild on request: one more build of the same commit, same image name, same server
    rebuilt = read_build(bhub.url, repo.spec(), bhub.token, query="rebuild=1")
    four = ready(rebuilt)
    assert builds_started(bhub) == builds + 3
    assert "building" in rebuilt.phases
    assert (four["server"], four["imageName"]) == (name, three["imageName"])


def test_rebuild_restarts_the_server_on_the_rebuilt_image(bhub, repos):
    repo = CaseRepo("dockerfile-basic", repos, "rebuilt")
    ready(read_build(bhub.url, repo.spec(), bhub.token))
    done = ready(read_build(bhub.url, repo.spec(), bhub.token, query="rebuild=1"))
    (container,) = server_containers(bhub, done["server"], running_only=True)
    with closing(docker.from_env()) as engine:
        current = engine.images.get(done["imageName"]).id
    assert container.attrs["Image"] == current, (
        f"server '{done['server']}' runs {container.attrs['Image'][:19]}, "
        f"but {done['imageName']} is now {current[:19]}")


def test_head_and_main_at_one_commit_build_once_and_share_one_server(bhub, repos):
    repo = CaseRepo("dockerfile-basic", repos, "two-refs")
    builds = builds_started(bhub)
    by_head = ready(read_build(bhub.url, repo.spec("HEAD"), bhub.token))
    by_branch = read_build(bhub.url, repo.spec("main"), bhub.token)
    assert ready(by_branch)["server"] == by_head["server"] == "two-refs"
    assert by_branch.last["imageName"] == by_head["imageName"]
    assert builds_started(bhub) == builds + 1 and "building" not in by_branch.phases
    assert any("already runs this environment" in m for m in by_branch.messages("launching")), by_branch.describe()
    assert [i.tags for i in images_under(repo.path)] == [[by_head["imageName"]]]
    assert "two-refs-2" not in servers(bhub)


def test_a_launch_that_needs_a_slot_on_a_full_hub_fails_before_building(hub_factory, repos):
    hub = hub_factory.start("full", max_named_servers=1)
    try:
        hub.cli("servers", "new", "taken")
        repo = CaseRepo("dockerfile-basic", repos, "no-slot")
        builds = builds_started(hub)
        stream = read_build(hub.url, repo.spec(), hub.token, timeout=60)
        assert stream.phases == ["waiting", "failed"], stream.describe()
        assert_one_clear_failure(stream, "the limit of 1 named servers is reached (taken)", "`localhub servers delete NAME`")
        assert builds_started(hub) == builds and images_under(repo.path) == []
        assert set(servers(hub)) <= {"", "taken"}
    finally:
        hub_factory.close(hub)


# --- 4. five concurrent launches of one new spec ---------------------------------------------------

def test_five_concurrent_launches_share_one_build_and_one_server(bhub, repos):
    repo = CaseRepo("dockerfile-basic", repos, "crowd")
    builds = builds_started(bhub)
    streams: dict[int, object] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(5)

    def launch(i):
        try:
            start.wait()
            streams[i] = read_build(bhub.url, repo.spec(), bhub.token)
        except BaseException as err:  # re-raised below, in the test's thread
            errors.append(err)

    threads = [threading.Thread(target=launch, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    finals = [ready(streams[i]) for i in range(5)]
    assert builds_started(bhub) == builds + 1
    assert {(f["server"], f["url"], f["imageName"]) for f in finals} == {
        ("crowd", f"{server_base(bhub, 'crowd')}/", finals[0]["imageName"])}
    assert len(server_containers(bhub, "crowd")) == 1
    assert [i.tags for i in images_under(repo.path)] == [[finals[0]["imageName"]]]  # no building leftovers
    shared = sum(any("already being built" in m or "Found built image" in m for m in streams[i].messages())
                 for i in range(5))
    assert shared == 4, "\n\n".join(streams[i].describe() for i in range(5))


def test_concurrent_launches_of_same_named_repositories_get_their_own_servers(bhub, repos):
    made = [CaseRepo("dockerfile-basic", repos / where, "same") for where in ("a", "b", "c")]
    for i, repo in enumerate(made):  # build first (launch=0), so that the launches below start together
        repo.commit(f"variant {i}", {"variant.txt": str(i)})
        built = read_build(bhub.url, repo.spec(), bhub.token, query="launch=0")
        assert built.last["phase"] == "built", built.describe()
    streams: dict[int, object] = {}
    start = threading.Barrier(len(made))

    def launch(i):
        start.wait()
        streams[i] = read_build(bhub.url, made[i].spec(), bhub.token)

    threads = [threading.Thread(target=launch, args=(i,)) for i in range(len(made))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    finals = [ready(streams[i]) for i in range(len(made))]
    names = [f["server"] for f in finals]
    assert len(set(names)) == len(made), f"servers {names} for three different repositories"
    for final in finals:
        (container,) = server_containers(bhub, final["server"], running_only=True)
        assert final["imageName"] in container.image.tags


# --- 5. the command line ---------------------------------------------------------------------------

def test_cli_launch_lists_logs_and_refuses_bad_links(bhub, repos):
    repo = CaseRepo("dockerfile-basic", repos, "cli-repo")
    builds = builds_started(bhub)

    proc = bhub.cli("launch", str(repo.path), "--json")
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    phases = [e["phase"] for e in events]
    assert list(dict.fromkeys(phases)) == list(BUILD_PHASES)
    done = events[-1]
    assert done["phase"] == "ready" and done["server"] == "cli-repo"
    assert done["binder_request"] == f"v2/{repo.local_spec()}"
    assert builds_started(bhub) == builds + 1

    human = bhub.cli("launch", str(repo.path))
    last = human.stdout.strip().splitlines()[-1]
    assert last == f"Ready: {done['url']}  (server 'cli-repo', image {done['imageName']})"
    assert "==> ready" in human.stderr and builds_started(bhub) == builds + 1

    rebuilt = bhub.cli("launch", str(repo.path), "--rebuild", "--json")
    assert json.loads(rebuilt.stdout.splitlines()[-1])["phase"] == "ready"
    assert builds_started(bhub) == builds + 2

    listing = json.loads(bhub.cli("builds", "ls", "--json").stdout)
    (env,) = [e for e in listing if e.get("spec") == repo.local_spec()]
    assert env["image"] == done["imageName"] and env["resolved"] == repo.head and env["servers"] == ["cli-repo"]
    assert "cli-repo" in bhub.cli("builds", "ls").stdout

    log = bhub.cli("builds", "log", repo.local_spec()).stdout
    assert log.startswith(f"# localhub build of {done['imageName']}\n")
    assert f"# spec: {repo.local_spec()}" in log and "COPY --chown=1000:1000 . /home/jovyan" in log
    assert f"# built {done['imageName']}" in log

    parsed = json.loads(bhub.cli("spec", str(repo.path), "--json").stdout)
    assert parsed == {"provider": "local", "repo": str(repo.path), "ref": "HEAD", "urlpath": None,
                      "spec": repo.local_spec()}

    for link, fragment in (("gh/onlyuser", "needs an owner, a repository and a ref"),
                           ("nope/x/y", "Unknown provider 'nope'"),
                           ("git/file:///tmp/x/HEAD", "is not URL-encoded"),
                           ("https://example.org/not/a/binder/link", "is not a Binder link")):
        refused = bhub.cli("spec", link, "--json", check=False)
        assert_one_sentence_on_stderr(refused, fragment)
        assert fragment in json.loads(refused.stdout)["error"]  # a script reading stdout learns it too
    before = nothing_made(bhub, repos)
    assert_one_sentence_on_stderr(bhub.cli("launch", "gh/onlyuser", check=False), "needs an owner")
    assert nothing_made(bhub, repos) == before


# --- 6. bad inputs: one clear message, nothing half-made ---------------------------------------------

BAD_LINKS = {
    "malformed": (lambda repo: "gh/onlyuser", "gh/onlyuser needs an owner, a repository and a ref"),
    "unknown provider": (lambda repo: "nope/x/y", "Unknown provider 'nope'; known providers are"),
    "unencoded git URL": (lambda repo: "git/file:///tmp/x/HEAD", "is not URL-encoded; a valid link looks like"),
    "no such repository": (lambda repo: "git/file%3A%2F%2F%2Fno%2Fsuch/HEAD",
                           "Repository file:///no/such was not found"),
    "no such ref": (lambda repo: repo.spec("no-such-branch"), "Ref 'no-such-branch' was not found in file://"),
}


@pytest.mark.parametrize("case", list(BAD_LINKS))
def test_bad_link_fails_with_one_clear_message_and_leaves_nothing(bhub, repos, first, case):
    link, fragment = BAD_LINKS[case]
    before = nothing_made(bhub, repos)
    stream = read_build(bhub.url, link(first.repo), bhub.token, timeout=60)
    assert stream.status == 200
    assert_one_clear_failure(stream, fragment)
    assert set(stream.phases) <= {"waiting", "failed"}
    assert nothing_made(bhub, repos) == before


@pytest.fixture(scope="module")
def broken(bhub, repos):
    repo = CaseRepo("dockerfile-broken", repos, "broken")
    before = nothing_made(bhub, repos)
    stream = read_build(bhub.url, repo.spec(), bhub.token)
    return SimpleNamespace(repo=repo, stream=stream, before=before, after=nothing_made(bhub, repos),
                           image=image_name(parse_spec(repo.spec()).environment, repo.head))


def test_failed_build_names_the_step_keeps_its_log_and_leaves_nothing(bhub, broken):
    stream = broken.stream
    assert stream.phases == ["waiting", "fetching", "building", "failed"], stream.describe()
    assert_one_clear_failure(stream, "RUN false", "exit code 1")
    assert broken.after == {**broken.before, "builds": broken.before["builds"] + 1}
    assert images_under(broken.repo.path) == []  # neither the image nor a localhub-building/* leftover

    log = bhub.cli("builds", "log", broken.image).stdout
    assert f"# localhub build of {broken.image}" in log and "about to fail" in log and "# failed after" in log


def test_failed_build_log_is_found_by_its_spec(bhub, broken):
    proc = bhub.cli("builds", "log", broken.repo.spec(), check=False)
    assert proc.returncode == 0, proc.stderr
    assert "about to fail" in proc.stdout


def test_api_error_messages_keep_percent_signs(bhub):
    with api(bhub) as http:
        r = http.get("/services/localhub/api/environments/log", params={"image": "local/%2Fno%2Fsuch/HEAD"})
    assert r.status_code == 404
    assert r.json()["message"] == "No build log is kept for local/%2Fno%2Fsuch/HEAD."


def test_build_stream_without_a_token_is_a_403_failed_event(bhub, repos, first):
    before = nothing_made(bhub, repos)
    stream = read_build(bhub.url, first.repo.spec(), token=None, timeout=60)
    assert stream.status == 403
    assert [e["phase"] for e in stream.events] == ["failed"]
    assert stream.last["status_code"] == 403 and "localhub login" in stream.last["message"]
    assert nothing_made(bhub, repos) == before


# --- 7. a Binder link with the host swapped ---------------------------------------------------------

def test_v2_link_redirects_to_the_progress_page_keeping_spec_and_query(bhub, first):
    spec = first.repo.spec()
    with httpx.Client(timeout=30) as http:
        for query in (URLPATH_QUERY, "labpath=index.ipynb&filepath=a%2Fb", ""):
            r = http.get(f"{bhub.url}/v2/{spec}" + (f"?{query}" if query else ""))
            assert r.status_code == 302
            # through the hub's sign-in, which keeps the page as next (issue 10 item 19)
            page = f"/services/localhub/v2/{spec}" + (f"?{query}" if query else "")
            assert r.headers["location"] == "/hub/login?next=" + quote(page, safe="")
    with httpx.Client(timeout=30, follow_redirects=True) as browser:  # signed in once: straight on to the page
        browser.get(bhub.client.login_link(next_url="/hub/home"))
        landed = browser.get(f"{bhub.url}/v2/{spec}?{URLPATH_QUERY}")
        assert landed.status_code == 200 and raw_path(landed) == f"/services/localhub/v2/{spec}"
    with api(bhub) as http:  # a client with a token goes to the page directly, which takes the token
        r = http.get(f"/v2/{spec}")
        assert r.status_code == 302 and r.headers["location"] == f"/services/localhub/v2/{spec}"
    with api(bhub) as http:  # the page itself (here with the API token) streams from the same encoded spec
        page = http.get(f"/services/localhub/v2/{spec}?{URLPATH_QUERY}")
        assert page.status_code == 200
        assert f'"/services/localhub/build/{spec}?{URLPATH_QUERY}"' in page.text


def test_another_site_cannot_make_a_signed_in_browser_build_a_folder_of_this_machine(bhub, repos):
    """A stranger found that a page of any site could send a signed-in browser to /v2/local/… and start a build of
    a folder here. A cross-site arrival (Fetch Metadata) is asked first; the build stream refuses one."""
    spec = CaseRepo("dockerfile-basic", repos, "crosssite").spec()  # git/<file:// URL of a folder here>, never built
    before = nothing_made(bhub, repos)
    with httpx.Client(timeout=30, follow_redirects=True) as browser:
        browser.get(bhub.client.login_link(next_url="/hub/home"))
        sent = browser.get(f"{bhub.url}/v2/{spec}", headers={"Sec-Fetch-Site": "cross-site"})
        assert sent.status_code == 200 and 'id="confirm"' in sent.text and "/build/" not in sent.text
        assert f'href="/services/localhub/v2/{spec}"' in sent.text  # the button: the same page, asked from here
        assert "frame-ancestors 'none'" in sent.headers["content-security-policy"]  # not to be clicked in a frame
        older = browser.get(f"{bhub.url}/v2/{spec}", headers={"Referer": "http://evil.example/"})  # no Fetch Metadata
        assert 'id="confirm"' in older.text
        stream = browser.get(f"{bhub.url}/services/localhub/build/{spec}", headers={"Sec-Fetch-Site": "same-site"})
        assert stream.status_code == 403 and "only from this hub's own pages" in stream.text
        assert nothing_made(bhub, repos) == before
        own = browser.get(f"{bhub.url}/services/localhub/v2/{spec}", headers={"Sec-Fetch-Site": "same-origin"})
        assert f'"/services/localhub/build/{spec}"' in own.text and 'id="confirm"' not in own.text
        remote = browser.get(f"{bhub.url}/v2/gh/org/repo/HEAD", headers={"Sec-Fetch-Site": "cross-site"})
        assert '"/services/localhub/build/gh/org/repo/HEAD"' in remote.text  # a Binder link from anywhere: as designed
        # a repository on this machine or its network is asked first too: a page must not make the hub reach it
        inside = "git/" + quote("http://127.0.0.1:9/admin.git", safe="") + "/HEAD"
        asked = browser.get(f"{bhub.url}/v2/{inside}", headers={"Sec-Fetch-Site": "cross-site"})
        assert 'id="confirm"' in asked.text and "this machine's network" in asked.text, asked.text[:300]
        stream = browser.get(f"{bhub.url}/services/localhub/build/{inside}", headers={"Sec-Fetch-Site": "cross-site"})
        assert stream.status_code == 403 and "only from this hub's own pages" in stream.text


def test_sign_in_link_reaches_the_launch_page(bhub):
    link = bhub.client.login_link(next_url="/services/localhub/")
    with httpx.Client(timeout=30, follow_redirects=True) as browser_like:  # keeps cookies across redirects
        page = browser_like.get(link)
    assert (page.status_code, str(page.url)) == (200, f"{bhub.url}/services/localhub/"), page.text[:200]
    assert 'id="repository"' in page.text


def test_launch_form_keeps_the_git_ref(bhub, first):
    url = first.repo.url
    with api(bhub) as http:
        got = http.get("/services/localhub/api/spec",
                       params={"provider": "git", "repository": url, "ref": "main", "path": ""}).json()
    assert (got.get("provider"), got.get("ref"), got.get("spec")) == ("git", "main", git_spec(url, "main")), got


# --- 8. offline: the last build of a spec is used when its host cannot be reached --------------------

def test_unreachable_host_falls_back_to_the_last_build(bhub, repos):
    source = CaseRepo("dockerfile-basic", repos, "offline-source")
    served = repos / "served"
    served.mkdir()
    subprocess.run(["git", "clone", "-q", "--bare", str(source.path), str(served / "offline.git")], check=True)
    daemon = GitDaemon(served).start()
    url = daemon.url("offline.git")
    spec = git_spec(url)
    try:
        builds = builds_started(bhub)
        first_launch = ready(read_build(bhub.url, spec, bhub.token))
        assert first_launch["server"] == "offline" and builds_started(bhub) == builds + 1
    finally:
        daemon.stop()  # the network goes away

    # resolution now fails the way a lost network does (and not as "no such repository")
    with pytest.raises(ResolveError) as failure:
        resolve(parse_spec(spec))
    assert failure.value.kind == "network", failure.value

    bhub.cli("servers", "stop", "offline")  # so the offline launch has to start it
    stream = read_build(bhub.url, spec, bhub.token)
    done = ready(stream)
    assert any(f"Using the last resolved id {source.head[:12]}" in m for m in stream.messages("waiting")), \
        stream.describe()
    assert "building" not in stream.phases and builds_started(bhub) == builds + 1
    assert (done["server"], done["imageName"]) == ("offline", first_launch["imageName"])
    assert server_containers(bhub, "offline", running_only=True)

    # a spec never resolved before has nothing to fall back to
    before = nothing_made(bhub, repos)
    never = read_build(bhub.url, git_spec(url, "main"), bhub.token)
    assert_one_clear_failure(never, "Could not reach", "No earlier build of")
    assert nothing_made(bhub, repos) == before


# --- 7. browser-side Binder clients and visitors who are not signed in --------------------------------

def test_build_takes_the_token_in_the_query_and_answers_allowed_origins(bhub, first):
    stream = read_build(bhub.url, first.repo.spec(), token=None, query=f"token={bhub.token}")
    assert ready(stream)["server"] == "first"
    url = f"{bhub.url}/build/{first.repo.spec()}"
    with httpx.Client(timeout=30) as http:
        preflight = http.options(url, headers={"Origin": BOOK_ORIGIN, "Access-Control-Request-Method": "GET",
                                               "Access-Control-Request-Headers": "authorization"})
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == BOOK_ORIGIN
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        with http.stream("GET", url, params={"token": bhub.token}, headers={"Origin": BOOK_ORIGIN}) as r:
            assert r.headers["access-control-allow-origin"] == BOOK_ORIGIN
        with http.stream("GET", url, params={"token": bhub.token}, headers={"Origin": "https://evil.example"}) as r:
            assert "access-control-allow-origin" not in r.headers
        refused = http.get(url, params={"token": "not-a-token"})
    assert refused.status_code == 403 and "?token=" in refused.text
    assert "not-a-token" not in (bhub.state_dir / "logs" / "daemon.log").read_text()


def test_the_server_token_of_a_launch_opens_the_server_in_a_browser(bhub, first):
    done = ready(read_build(bhub.url, first.repo.spec(), bhub.token))
    with httpx.Client(timeout=30, follow_redirects=True) as http:  # a browser: no header, no cookie yet
        page = http.get(done["url"], params={"token": done["token"]})
        assert page.status_code == 200 and f"/user/{bhub.user}/first/" in str(page.url), page.url
        assert "/hub/login" not in str(page.url)


def test_a_visitor_who_is_not_signed_in_comes_back_to_the_link_after_signing_in(bhub, first):
    link = f"{bhub.url}/v2/{first.repo.spec()}?{URLPATH_QUERY}"
    page = f"/services/localhub/v2/{first.repo.spec()}?{URLPATH_QUERY}"
    with httpx.Client(timeout=30, follow_redirects=True) as browser:
        refused = browser.get(link)
        assert refused.status_code == 403
        assert f"localhub login --next {shlex.quote(page)}" in html.unescape(refused.text), refused.text[-2000:]
        signed_in = browser.get(bhub.cli("login", "--next", page).stdout.strip())
        assert signed_in.status_code == 200 and raw_path(signed_in) == page.split("?")[0], signed_in.url
        assert "Starting" in signed_in.text
    with httpx.Client(timeout=30, follow_redirects=True) as browser:  # the Binder link itself works as --next
        signed_in = browser.get(bhub.cli("login", "--next", f"https://mybinder.org/v2/{first.repo.spec()}").stdout.strip())
        assert signed_in.status_code == 200 and raw_path(signed_in) == page.split("?")[0], signed_in.url
    refused = bhub.cli("login", "--next", "https://elsewhere.example/x", check=False)
    assert_one_sentence_on_stderr(refused, "is not a page of this hub")
