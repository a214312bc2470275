"""What environments cost on disk counting shared layers once (images/inventory.py): layers read from image
histories as the engine reports them here, over a fake engine API with the histories of real images."""

from __future__ import annotations

import pytest

from localhub.images.inventory import LayerBook, chains, layer_sizes, makes_layer

pytestmark = pytest.mark.unit

MB = 10**6

# localhub/singleuser as the engine here reports it (oldest first): docker import, two RUNs, metadata; BuildKit's
# WORKDIR made an empty layer
SINGLEUSER = [
    {"CreatedBy": "", "Size": 290 * MB},
    {"CreatedBy": "RUN /bin/sh -c groupadd --gid 1000 jovyan # buildkit", "Size": 8912},
    {"CreatedBy": "RUN /bin/sh -c python3 -m venv /opt/venv # buildkit", "Size": 339 * MB},
    {"CreatedBy": "ENV HOME=/home/jovyan", "Size": 0},
    {"CreatedBy": "LABEL localhub.image=singleuser", "Size": 0},
    {"CreatedBy": "WORKDIR /home/jovyan", "Size": 0},
    {"CreatedBy": "USER 1000", "Size": 0},
    {"CreatedBy": 'CMD ["jupyterhub-singleuser"]', "Size": 0},
]
ENV_A = SINGLEUSER + [{"CreatedBy": "COPY --chown=1000:1000 . /home/jovyan # buildkit", "Size": 3 * MB},
                      {"CreatedBy": "USER jovyan", "Size": 0}]
ENV_B = SINGLEUSER + [{"CreatedBy": "RUN /bin/sh -c pip install numpy # buildkit", "Size": 40 * MB}]
# the legacy builder: `#(nop)` marks metadata, and a RUN that changed nothing made no layer
LEGACY = SINGLEUSER + [{"CreatedBy": "/bin/sh -c #(nop)  USER root", "Size": 0},
                       {"CreatedBy": "/bin/sh -c true", "Size": 0},
                       {"CreatedBy": "/bin/sh -c #(nop)  LABEL localhub.test=1", "Size": 0}]


def test_which_history_entries_made_layers():
    assert [makes_layer(e) for e in SINGLEUSER] == [True, True, True, False, False, True, False, False]
    assert makes_layer({"CreatedBy": "/bin/sh -c #(nop) ADD file:abc in /", "Size": 0})
    assert not makes_layer({"CreatedBy": "/bin/sh -c #(nop)  ENV A=b", "Size": 0})


def test_a_guessed_empty_layer_that_was_none_is_dropped_from_the_top():
    assert layer_sizes(LEGACY, 4) == [290 * MB, 8912, 339 * MB, 0]
    assert layer_sizes(SINGLEUSER, 6) == [290 * MB, 8912, 339 * MB, 0, 0, 0]  # fewer guessed: empty ones added


def test_chain_keys_stand_for_a_layer_and_everything_under_it():
    assert chains(["sha256:a", "sha256:b"])[0] == "sha256:a"
    assert chains(["sha256:a", "sha256:b"])[1] != chains(["sha256:c", "sha256:b"])[1]


class FakeAPI:
    """The three calls LayerBook makes, over images given as (diff ids, history oldest first)."""

    def __init__(self, images: dict[str, tuple[list[str], list[dict]]]):
        self.images_ = images
        self.history_calls = 0

    def images(self):
        return [{"Id": image_id} for image_id in self.images_]

    def inspect_image(self, image_id):
        return {"RootFS": {"Layers": self.images_[image_id][0]}}

    def history(self, image_id):
        self.history_calls += 1
        return self.images_[image_id][1][::-1]  # the engine answers newest first


class FakeClient:
    def __init__(self, api):
        self.api = api


BASE = ["sha256:root", "sha256:user", "sha256:venv", "sha256:workdir"]


@pytest.fixture
def engine():
    return FakeAPI({
        "singleuser": (BASE, SINGLEUSER),
        "env-a": (BASE + ["sha256:copy-a"], ENV_A),
        "env-b": (BASE + ["sha256:pip-b"], ENV_B),
    })


def test_shared_layers_count_once(engine):
    book = LayerBook(FakeClient(engine))
    usage, together = book.usage(["env-a", "env-b"])
    base = 290 * MB + 8912 + 339 * MB
    assert usage["env-a"].own == 3 * MB and usage["env-a"].shared == base
    assert usage["env-b"].own == 40 * MB and usage["env-b"].shared == base
    assert together == base + 43 * MB  # not twice the 630 MB base
    assert book.freed_by(["env-a"]) == 3 * MB
    assert book.freed_by(["env-a", "env-b", "singleuser"]) == together


def test_layers_are_read_once_per_image_and_forgotten_with_it(engine):
    book = LayerBook(FakeClient(engine))
    book.usage(["env-a"])
    book.usage(["env-a"])
    assert engine.history_calls == 3
    del engine.images_["env-b"]
    usage, _ = book.usage(["env-a"])
    assert "env-b" not in book._layers
    assert usage["env-a"].own == 3 * MB  # still shares the base with singleuser
