"""Homes and images as files, on the real engine: a home archived from one volume and restored into another
is the same home, byte for byte, owners and modes included, and files deleted since are gone."""

from __future__ import annotations

import hashlib
import uuid

import docker
import pytest

from localhub.pool.away.archives import archive_volume_home, file_sha, image_id, restore_home, save_image

pytestmark = pytest.mark.docker

IMAGE = "localhub/singleuser:test"


@pytest.fixture
def engine():
    client = docker.from_env()
    run = f"archives-{uuid.uuid4().hex[:8]}"
    labels = {"localhub.test": "1", "localhub.test-run": run}
    yield client, labels, run
    for container in client.containers.list(all=True, filters={"label": f"localhub.test-run={run}"}):
        container.remove(force=True)
    for volume in client.volumes.list(filters={"label": f"localhub.test-run={run}"}):
        volume.remove(force=True)


def _in_volume(client, volume: str, script: str, labels: dict) -> str:
    out = client.containers.run(IMAGE, entrypoint=["sh", "-c", script], user="1000", network_mode="none",
                                volumes={volume: {"bind": "/home/jovyan", "mode": "rw"}}, labels=labels, remove=True)
    return out.decode()


def test_home_round_trip_is_exact(engine, tmp_path):
    client, labels, run = engine
    source = client.volumes.create(f"{run}-a", labels=labels).name
    target = client.volumes.create(f"{run}-b", labels=labels).name
    _in_volume(client, source, "cd /home/jovyan && mkdir -p work/deep && head -c 3000000 /dev/urandom > work/data.bin"
               " && printf 'print(1)\\n' > work/deep/nb.py && chmod 640 work/deep/nb.py && ln -s work/data.bin link",
               labels)
    _in_volume(client, target, "echo stale > /home/jovyan/stale.txt", labels)
    listing = "cd /home/jovyan && find . -printf '%p %U %m %y\\n' | sort && sha256sum work/data.bin work/deep/nb.py"

    archive = archive_volume_home(client, source, IMAGE, tmp_path / "home.tar", labels)
    assert archive.size > 3_000_000 and archive.sha == file_sha(archive.path)
    restore_home(client, target, IMAGE, archive.path, labels)

    assert _in_volume(client, target, listing, labels) == _in_volume(client, source, listing, labels)
    assert "stale.txt" not in _in_volume(client, target, "ls /home/jovyan", labels)


def test_saved_image_is_the_image(engine, tmp_path):
    client, _, _ = engine
    archive = save_image(client, IMAGE, tmp_path / "image.tar")
    assert archive.size > 100_000_000
    assert hashlib.sha256(archive.path.read_bytes()).hexdigest() == archive.sha
    assert image_id(client, IMAGE).startswith("sha256:") and image_id(client, "localhub/nothing:here") is None
