"""Image naming rules and labels (localhub.images.catalog): no Docker engine needed."""

import datetime as dt
import re

import pytest
import repo2docker
from repo2docker.utils import is_valid_docker_image_name

from localhub.images.catalog import (
    building_name,
    content_id,
    image_labels,
    image_name,
    label_value,
    slug,
    tag_for,
)

pytestmark = pytest.mark.unit

SHA = "0da74976eec61d31894c490a9615e45a95098124"

# Docker's own reference grammar (distribution/reference), repository path + tag.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
DOCKER_REFERENCE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*:[\w][\w.-]{{0,127}}$")

SPECS = [
    "gh/jupyterhub/binder-examples/main",
    "git/file%3A%2F%2F%2Ftmp%2Frepo/main",
    "git/https%3A%2F%2Fgitlab.example.org%2Fgroup%2Fsub%2Frepo.git/v1.0",
    "gl/group%2Fsubgroup%2Frepo/HEAD",
    "zenodo/10.5281/zenodo.3242074",
    "gh/" + "x" * 300 + "/main",
    "gh/UPPER/Case__Repo/feature/ünïcode-branch",
    "!!!",
]


@pytest.mark.parametrize("spec", SPECS)
def test_names_are_valid_docker_references(spec):
    name = image_name(spec, SHA)
    assert DOCKER_REFERENCE.match(name), name
    assert is_valid_docker_image_name(name), name  # repo2docker's --image-name check
    assert len(name) <= 255
    assert is_valid_docker_image_name(building_name(name, "0123abcd"))


def test_names_are_readable_and_deterministic():
    name = image_name("gh/jupyterhub/binder-examples/main", SHA)
    assert name.startswith("localhub-env/gh-jupyterhub-binder-examples-main-")
    assert name.endswith(":" + SHA[:12])
    assert name == image_name("gh/jupyterhub/binder-examples/main", SHA)
    assert image_name("git/file%3A%2F%2F%2Ftmp%2Frepo/main", SHA).startswith("localhub-env/git-file-tmp-repo-main-")


def test_specs_sharing_a_slug_get_different_names():
    # Slugs fold case and punctuation, so these three look alike; the spec hash keeps them apart.
    specs = ["gh/a-b/c/main", "gh/a/b-c/main", "gh/A/b-c/main"]
    assert len({slug(s) for s in specs}) == 1
    assert len({image_name(s, SHA) for s in specs}) == 3


def test_long_specs_are_cut_but_stay_distinct():
    long_a = "gh/" + "a" * 200 + "/one"
    long_b = "gh/" + "a" * 200 + "/two"
    assert slug(long_a) == slug(long_b)
    assert len(slug(long_a)) <= 80
    assert image_name(long_a, SHA) != image_name(long_b, SHA)


def test_tags_follow_the_resolved_id():
    assert tag_for(SHA) == SHA[:12]
    assert tag_for("abc1234") == "abc1234"  # short hex: the id itself
    assert tag_for(SHA.upper()) == SHA[:12]
    other = tag_for("10.5281/zenodo.3242074")  # not hex: hashed
    assert re.fullmatch(r"[0-9a-f]{12}", other) and other == tag_for("10.5281/zenodo.3242074")
    assert image_name("s", SHA) != image_name("s", "1" * 40)
    with pytest.raises(ValueError):
        image_name("", SHA)


def test_labels():
    labels = image_labels("gh/org/repo/main", SHA, {"localhub.test": "1"})
    assert labels["localhub.spec"] == "gh/org/repo/main"
    assert labels["localhub.resolved"] == SHA
    assert labels["localhub.repo2docker"] == repo2docker.__version__
    assert dt.datetime.fromisoformat(labels["localhub.built"]).tzinfo is not None
    assert labels["localhub.test"] == "1"


def test_label_values_survive_a_dockerfile_label_line():
    assert label_value('a"b\\c$HOME\nd') == "a%22b%5Cc%24HOME%0Ad"
    assert label_value("git/file%3A%2F%2F%2Ftmp/main") == "git/file%3A%2F%2F%2Ftmp/main"


def test_content_id_follows_the_files(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: x")
    first = content_id(tmp_path)
    assert first.startswith("dir-") and first == content_id(tmp_path)
    (tmp_path / ".git" / "HEAD").write_text("ref: y")  # git's own files do not count
    assert content_id(tmp_path) == first
    (tmp_path / "a.txt").write_text("two")
    assert content_id(tmp_path) != first
