"""Bundles on the real engine: the teacher's hub builds an original mybinder.org link (GitHub stood in for
by local repositories, the edge of the internet), `bundle create` writes it with its layers once and
compressed; an altered or cut copy is refused naming what is wrong and leaves nothing; `bundle import`
loads only the layers the engine lacks and the original link then launches with the network gone, saying
that it uses the bundled build.

One hub for the module; the tests run in order on the same bundle (one xdist group: one worker).
"""

from __future__ import annotations

import json
import shutil
from contextlib import closing

import docker
import pytest
import zstandard
import io
import tarfile

from localhub.workshop.bundlefile import BundleReader
from tests.lan.classroom import FakeGitHub

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("workshop-bundle")]


@pytest.fixture(scope="module")
def github(tmp_path_factory):
    return FakeGitHub(tmp_path_factory.mktemp("github"))


@pytest.fixture(scope="module")
def teacher(hub_factory, github):
    repo = github.repo("dockerfile-basic", "course")
    github.repo("dockerfile-basic", "elsewhere")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in github.env.items():
            mp.setenv(key, value)
        hub = hub_factory.start("workshop")
        try:
            yield hub, repo
        finally:
            hub_factory.close(hub)
            with closing(docker.from_env()) as engine:
                for image in engine.images.list(filters={"label": "localhub.test=1"}):
                    if github.org in (image.labels or {}).get("localhub.spec", ""):
                        engine.images.remove(image.id, force=True)


@pytest.fixture(scope="module")
def bundle(teacher, github, tmp_path_factory):
    hub, repo = teacher
    path = tmp_path_factory.mktemp("stick") / "course.lhb"
    done = hub.cli("bundle", "create", str(path), github.link("course", urlpath="lab/tree/index.ipynb"), "--json",
                   timeout=600)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return path, lines


def base_layers() -> set[str]:
    with closing(docker.from_env()) as engine:
        return set(engine.images.get("localhub/singleuser:test").attrs["RootFS"]["Layers"])


def engine_image(name):
    with closing(docker.from_env()) as engine:
        try:
            return engine.images.get(name)
        except docker.errors.ImageNotFound:
            return None


def test_create_writes_the_link_built_once_with_layers_stored_once_and_compressed(bundle, teacher, github):
    hub, repo = teacher
    path, lines = bundle
    created = lines[-1]
    assert created["event"] == "created" and created["links"][0]["spec"] == github.spec("course")
    assert created["links"][0]["resolved"] == repo.head
    progress = [e for e in lines if e["event"] == "progress"]
    assert progress and all({"total", "done", "rate"} <= set(e) for e in progress)
    assert {e["what"] for e in progress} >= {"Saving images from the engine", "Writing course.lhb"}
    with BundleReader(path) as reader:
        reader.verify()
        m = reader.manifest
        stored = sum(p.size for p in m.parts.values() if p.kind == "layer")
        raw = sum(p.raw_size for p in m.parts.values() if p.kind == "layer")
        assert stored < 0.6 * raw, (stored, raw)
        content = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(reader.read(m.links[0].repo))).read()
    with tarfile.open(fileobj=io.BytesIO(content)) as tar:
        assert {"Dockerfile", "index.ipynb"} <= set(tar.getnames())  # the repository at the built commit


def test_an_altered_or_cut_bundle_is_refused_and_leaves_nothing(bundle, teacher, tmp_path):
    hub, _ = teacher
    path, lines = bundle
    image = lines[-1]["links"][0]["image"]
    hub.cli("builds", "rm", image, "--yes")
    assert engine_image(image) is None
    with BundleReader(path) as reader:
        m = reader.manifest
        # the environment's own biggest layer (the repository's files): not in this engine any more
        own = [d for d in m.images[0].layers if d not in base_layers()]
        part = max((m.layers[d] for d in own), key=lambda p: m.parts[p].size)
        member = reader.members[part]
        at = member.offset_data + member.size - 100
    altered = tmp_path / "altered.lhb"
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    altered.write_bytes(bytes(data))
    refused = hub.cli("bundle", "import", str(altered), check=False)
    assert refused.returncode == 1 and part in refused.stderr and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith(f"localhub: altered.lhb is damaged: part {part}")
    assert engine_image(image) is None  # nothing half-imported
    assert json.loads(hub.cli("bundle", "ls", "--json").stdout) == []
    assert not (hub.state_dir / "workshop" / "repos").exists() or \
        not any((hub.state_dir / "workshop" / "repos").iterdir())

    cut = tmp_path / "cut.lhb"
    cut.write_bytes(path.read_bytes()[: len(data) // 2])
    refused = hub.cli("bundle", "import", str(cut), check=False)
    assert refused.returncode == 1 and "cut short" in refused.stderr
    assert engine_image(image) is None


def test_import_loads_only_missing_layers_and_the_original_link_launches_offline(bundle, teacher, github):
    hub, repo = teacher
    path, lines = bundle
    link = lines[-1]["links"][0]
    if engine_image(link["image"]) is not None:  # run alone (or on its own worker): the test above removes it
        hub.cli("builds", "rm", link["image"], "--yes")
    done = hub.cli("bundle", "import", str(path), "--json", timeout=600)
    events = [json.loads(line) for line in done.stdout.splitlines()]
    result = events[-1]
    assert result["event"] == "imported" and result["images_loaded"] == 1
    assert result["layers_skipped"] >= 1 and result["layers_sent"] >= 1  # the base was here already
    assert result["progress"]["skipped"] > result["progress"]["done"]
    assert engine_image(link["image"]).id == link["image_id"]
    listed = json.loads(hub.cli("bundle", "ls", "--json").stdout)
    assert [l["spec"] for l in listed[0]["links"]] == [github.spec("course")]

    import httpx  # the workshop page and its API tell the same

    with httpx.Client(base_url=hub.url, headers={"Authorization": f"token {hub.token}"}, timeout=30) as http:
        status = http.get("/services/localhub/api/workshop").json()
        page = http.get("/services/localhub/workshop")
    assert status["import"]["state"] == "done" and status["bundles"][0]["name"] == "course"
    assert page.status_code == 200 and "Bundle import" in page.text and "Hand in your work" in page.text

    shutil.move(github.root / github.org, github.root / "gone")  # GitHub is out of reach from now on
    try:
        launched = hub.cli("launch", github.link("course", urlpath="lab/tree/index.ipynb"), "--json", timeout=300)
        events = [json.loads(line) for line in launched.stdout.splitlines()]
        said = " ".join(e["message"] for e in events)
        assert "is in bundle course" in said and "no network needed" in said
        assert events[-1]["phase"] == "ready" and events[-1]["imageName"] == link["image"]
        assert "Resolving" not in said  # the network was never asked
        elsewhere = hub.cli("launch", github.link("elsewhere"), check=False, timeout=120)
        assert elsewhere.returncode == 1  # a link not in the bundle does need the network
    finally:
        shutil.move(github.root / "gone", github.root / github.org)
