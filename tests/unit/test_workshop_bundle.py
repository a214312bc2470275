"""Bundles without an engine: the manifest is checked data; a bundle written is read back part by part; a
cut, altered or foreign file is refused in one sentence naming the part at fault; the archive made for the
engine holds only the missing layers, decompressed, with the image list last, and breaks off (before that
list) at the first bad byte."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest
import zstandard

from localhub.errors import LocalhubError
from localhub.workshop import layers
from localhub.workshop.bundlefile import BundleError, BundleReader, BundleWriter, PartDamaged
from localhub.workshop.manifest import ImageEntry, LinkEntry, Manifest, ManifestError
from localhub.workshop.progress import Progress

pytestmark = pytest.mark.unit


def layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FakeImage:
    """An image made of in-memory layers: its config names their diff ids, as an engine's would."""

    def __init__(self, *layer_files: dict[str, bytes], name: str = "localhub-env/demo:abc"):
        self.raw = [layer_tar(files) for files in layer_files]
        self.blobs = [zstandard.ZstdCompressor().compress(raw) for raw in self.raw]
        self.diff_ids = [digest(raw) for raw in self.raw]
        self.config = json.dumps({"architecture": "amd64", "os": "linux",
                                  "rootfs": {"type": "layers", "diff_ids": self.diff_ids}}).encode()
        self.id = digest(self.config)
        self.name = name


def write_bundle(path, image: FakeImage, links=None) -> Manifest:
    manifest = Manifest(name="course", created="2026-01-01T00:00:00+00:00", created_by="localhub test")
    with BundleWriter(path) as writer:
        config_part = f"images/{image.id[7:]}.json"
        writer.add_bytes(config_part, image.config, "config")
        for i, (blob, raw, diff) in enumerate(zip(image.blobs, image.raw, image.diff_ids)):
            source = path.parent / f"blob{i}"
            source.write_bytes(blob)
            part = f"layers/{diff[7:]}.tar.zst"
            writer.add_file(part, source, "layer", raw_size=len(raw), diff_id=diff)
            manifest.layers[diff] = part
        manifest.images = [ImageEntry(image.id, (image.name,), config_part, tuple(image.diff_ids))]
        manifest.links = links if links is not None else [
            LinkEntry("https://mybinder.org/v2/gh/org/repo/main", "gh/org/repo/main", "a" * 40, image.name, image.id)]
        writer.finish(manifest)
    return manifest


@pytest.fixture
def image():
    return FakeImage({"srv/a.txt": b"base layer " * 1000}, {"home/jovyan/lesson.ipynb": b"{}" * 500})


def test_a_bundle_is_read_back_with_every_part_checked(tmp_path, image):
    path = tmp_path / "course.lhb"
    write_bundle(path, image)
    assert not list(tmp_path.glob(".course.lhb.partial-*"))  # the hidden file became the bundle
    with BundleReader(path) as reader:
        m = reader.manifest
        assert m.name == "course" and [link.spec for link in m.links] == ["gh/org/repo/main"]
        assert reader.read(m.images[0].config) == image.config
        reader.verify()
        assert len(reader.id) == 16


def test_inspect_through_the_cli_shows_links_and_layers(tmp_path, image, capsys):
    from localhub.cli import main

    path = tmp_path / "course.lhb"
    write_bundle(path, image)
    assert main(["bundle", "inspect", str(path), "--verify", "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out.splitlines()[0])["event"] == "progress"
    data = json.loads(out[out.index("{\n"):])  # the summary follows the progress lines
    assert data["links"][0]["link"] == "https://mybinder.org/v2/gh/org/repo/main"
    assert data["layers"] == 2 and data["layer_raw_bytes"] == sum(len(r) for r in image.raw)


def test_a_copy_cut_short_is_refused_as_such(tmp_path, image):
    path = tmp_path / "course.lhb"
    write_bundle(path, image)
    data = path.read_bytes()
    with BundleReader(path) as reader:
        in_manifest = reader.members["bundle.json"].offset_data + 20
    for cut in (len(data) // 3, in_manifest, 700):
        short = tmp_path / "short.lhb"
        short.write_bytes(data[:cut])
        with pytest.raises(BundleError, match="cut short|no manifest"):
            BundleReader(short)


def test_an_altered_byte_names_the_part(tmp_path, image):
    path = tmp_path / "course.lhb"
    write_bundle(path, image)
    with BundleReader(path) as reader:
        member = reader.members[reader.manifest.layers[image.diff_ids[1]]]
        offset = member.offset_data + member.size // 2
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    with BundleReader(path) as reader:  # the manifest is intact: the bundle opens...
        with pytest.raises(PartDamaged) as caught:
            reader.verify()  # ...and the damaged part is named
    assert caught.value.part == f"layers/{image.diff_ids[1][7:]}.tar.zst"
    assert "copy the bundle again" in str(caught.value).lower()


def test_a_damaged_header_is_not_taken_for_the_end(tmp_path, image):
    path = tmp_path / "course.lhb"
    write_bundle(path, image)
    with BundleReader(path) as reader:
        header = reader.members[reader.manifest.layers[image.diff_ids[1]]].offset
    data = bytearray(path.read_bytes())
    data[header + 100] ^= 0x10  # inside the tar header of the second layer
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="damaged: the part after layers/.* has an unreadable header"):
        BundleReader(path)


def test_an_altered_manifest_is_refused(tmp_path, image):
    path = tmp_path / "course.lhb"
    write_bundle(path, image)
    data = path.read_bytes()
    at = data.rindex(b'"name": "course"')
    path.write_bytes(data[:at] + b'"name": "coursf"' + data[at + 16:])
    with pytest.raises(BundleError, match="manifest does not match"):
        BundleReader(path)


def test_foreign_files_get_one_sentence(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BundleError, match="not a localhub bundle"):
        BundleReader(tmp_path / "notes.txt")
    other = tmp_path / "other.tar"
    with tarfile.open(other, "w") as tar:
        tar.add(tmp_path / "notes.txt", arcname="notes.txt")
    with pytest.raises(BundleError, match="no manifest"):
        BundleReader(other)
    with pytest.raises(BundleError, match="There is no bundle"):
        BundleReader(tmp_path / "missing.lhb")
    with pytest.raises(BundleError, match="is a folder"):
        BundleReader(tmp_path)


def test_a_failed_write_leaves_nothing(tmp_path, image):
    path = tmp_path / "course.lhb"
    with pytest.raises(RuntimeError):
        with BundleWriter(path) as writer:
            writer.add_bytes("images/x.json", b"{}", "config")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("change, complaint", [
    (lambda d: d["parts"].update({"../../etc/passwd": {"kind": "repo", "sha256": "0" * 64, "size": 1}}),
     "part name"),
    (lambda d: d["images"][0]["layers"].append("sha256:" + "1" * 64), "lacks"),
    (lambda d: d["links"][0].update(image_id="sha256:" + "2" * 64), "lacks"),
    (lambda d: d.update(version=9), "format version 9"),
    (lambda d: d["parts"][next(iter(d["parts"]))].update(size=-1), "not valid at parts"),
])
def test_the_manifest_is_checked_data(tmp_path, image, change, complaint):
    manifest = write_bundle(tmp_path / "course.lhb", image)
    data = json.loads(manifest.to_json())
    change(data)
    with pytest.raises(ManifestError, match=complaint):
        Manifest.from_json(json.dumps(data))


# --- the archive made for `docker load` -------------------------------------------------------------

def to_load(image: FakeImage, blobs=None):
    blobs = blobs or image.blobs
    return layers.ToLoad(image.id, (image.name,), image.config,
                         [(d, len(b), len(r), (lambda b=b: io.BytesIO(b))) for d, b, r in
                          zip(image.diff_ids, blobs, image.raw)])


def test_only_missing_layers_are_sent_and_the_image_list_comes_last(image):
    present = {layers.chain_ids(image.diff_ids)[0]}  # the engine has the base layer
    todo, send = layers.plan([to_load(image)], present, have_ids=set())
    assert list(send) == [image.diff_ids[1]]
    sent = []
    archive = b"".join(layers._archive(todo, send, sent.append))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        names = tar.getnames()
        assert names[-1] == "manifest.json" and len(names) == 3
        raw = tar.extractfile(f"{image.diff_ids[1][7:]}/layer.tar").read()
        listing = json.loads(tar.extractfile("manifest.json").read())
    assert digest(raw) == image.diff_ids[1]  # decompressed: the engine gets the layer tar itself
    assert listing[0]["RepoTags"] == [image.name] and len(listing[0]["Layers"]) == 2
    assert sum(sent) == len(image.blobs[1])  # progress counts the bundle's bytes


def test_an_image_already_there_is_not_sent(image):
    todo, send = layers.plan([to_load(image)], set(), have_ids={image.id})
    assert todo == [] and send == {}


def test_a_bad_blob_breaks_the_archive_off_before_the_image_list(tmp_path, image):
    path = tmp_path / "course.lhb"
    write_bundle(path, image)
    with BundleReader(path) as reader:
        member = reader.members[reader.manifest.layers[image.diff_ids[0]]]
        offset = member.offset_data + 10
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))
    with BundleReader(path) as reader:
        m = reader.manifest
        item = layers.ToLoad(image.id, (image.name,), image.config, [
            (d, m.parts[m.layers[d]].size, m.parts[m.layers[d]].raw_size, (lambda p=m.layers[d]: reader.open(p)))
            for d in image.diff_ids])
        produced = []
        with pytest.raises(LocalhubError) as caught:
            for chunk in layers._archive([item], {d: 1 for d in image.diff_ids}, None):
                produced.append(chunk)
    assert "layers/" in str(caught.value) or "cannot be decompressed" in str(caught.value)
    assert b"manifest.json" not in b"".join(produced)


def test_chain_ids_follow_the_image_spec():
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert layers.chain_ids([a, b]) == [a, "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()]


def test_progress_says_sizes_rates_and_what_was_already_here():
    p = Progress("Importing course.lhb", total=200 << 20, skipped=600 << 20)
    p.started -= 2
    p.add(100 << 20)
    line = p.line()
    assert "100.0 MiB of 200.0 MiB (50%)" in line and "/s" in line and "600.0 MiB already here" in line
    p.finish()
    assert p.to_dict()["finished"] is True


def test_an_import_whose_process_died_reads_as_interrupted(tmp_path):
    import subprocess
    import sys

    from localhub.workshop.importer import ImportStatus

    status = ImportStatus(tmp_path)
    status.write(state="running", bundle="course", progress={})
    assert status.read()["state"] == "running"  # this process runs
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    data = json.loads(status.path.read_text())
    data["pid"] = int(gone.stdout)  # a process that ended
    status.path.write_text(json.dumps(data))
    read = status.read()
    assert read["state"] == "failed" and "interrupted" in read["message"]
