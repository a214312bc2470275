"""What the built environments cost on disk, counting layers they share once.

Docker's `Size` of an image counts every layer under it, so each environment built on the 600 MB single-user
image "weighs" 600 MB although that base is stored once. Here an image's layers are known by their chain (the
list of layer digests up to them, as the engine identifies them) with each layer's own size, read from the
image's history: an environment's `own` bytes are the layers no other image on the engine has, its `shared` bytes
the layers it has in common with others (a base image, another build of the same repository), and a total
counts each layer once.

History entries are the Dockerfile's instructions, one per line; those that change files (RUN, COPY, ADD, WORKDIR,
or any with a size) made a layer, the others (ENV, LABEL, …) did not. When a builder disagreed (a RUN that
changed nothing made no layer) the extra or missing layers are taken to be empty ones at the top: they weigh
nothing, so the sizes stay right.

Layer lists are read once per image id (an image's layers never change) and kept for the daemon's life.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import docker

_NOP = "/bin/sh -c #(nop) "
_LAYER_INSTRUCTIONS = ("RUN", "COPY", "ADD", "WORKDIR")


def makes_layer(entry: dict) -> bool:
    """Whether a history entry (the engine's /images/{id}/history) made a layer."""
    if entry.get("Size"):
        return True
    created_by = (entry.get("CreatedBy") or "").strip()
    if created_by.startswith(_NOP):  # the legacy builder: `#(nop)` marks instructions that ran nothing
        return created_by[len(_NOP):].split(maxsplit=1)[:1] in (["ADD"], ["COPY"], ["WORKDIR"])
    if created_by.startswith("/bin/sh -c "):  # the legacy builder's RUN
        return True
    return created_by.split(maxsplit=1)[:1] in [[word] for word in _LAYER_INSTRUCTIONS]


def layer_sizes(history_oldest_first: list[dict], layer_count: int) -> list[int]:
    """Each layer's own size, bottom first, from the image's history."""
    sizes = [int(e.get("Size") or 0) for e in history_oldest_first if makes_layer(e)]
    while len(sizes) > layer_count and 0 in sizes:  # a guessed layer that was not one: drop an empty guess,
        sizes.reverse()                             # the topmost first
        sizes.remove(0)
        sizes.reverse()
    sizes = sizes[:layer_count]
    return sizes + [0] * (layer_count - len(sizes))


def chains(diff_ids: list[str]) -> list[str]:
    """A key per layer that stands for it and everything under it (the engine's chain ids)."""
    keys, chain = [], ""
    for diff in diff_ids:
        chain = diff if not chain else "sha256:" + hashlib.sha256(f"{chain} {diff}".encode()).hexdigest()
        keys.append(chain)
    return keys


@dataclass(frozen=True)
class Usage:
    own: int  # bytes of layers only this image has
    shared: int  # bytes of layers other images on the engine have too


class LayerBook:
    """Layers of the engine's images, by image id, read once; and what each image costs counting sharing."""

    def __init__(self, client: docker.DockerClient):
        self.client = client
        self._layers: dict[str, list[tuple[str, int]]] = {}

    def layers(self, image_id: str, diff_ids: list[str] | None = None) -> list[tuple[str, int]]:
        """(chain key, own size) of each layer of an image, bottom first."""
        if image_id not in self._layers:
            if diff_ids is None:
                diff_ids = self.client.api.inspect_image(image_id)["RootFS"].get("Layers") or []
            history = self.client.api.history(image_id)[::-1]
            self._layers[image_id] = list(zip(chains(diff_ids), layer_sizes(history, len(diff_ids))))
        return self._layers[image_id]

    def _holders(self, present: list[str] | None = None) -> tuple[dict[str, set[str]], dict[str, int]]:
        """Per layer (chain key): the images on the engine holding it (`present`: their ids, when the caller
        has listed them already), and its size."""
        holders: dict[str, set[str]] = {}
        sizes: dict[str, int] = {}
        if present is None:
            present = [summary["Id"] for summary in self.client.api.images()]  # tagged or not, each holds layers
        for gone in set(self._layers) - set(present):  # images removed since: forgotten
            del self._layers[gone]
        for image_id in present:
            try:
                layers = self.layers(image_id)
            except docker.errors.NotFound:  # removed since the listing
                continue
            for chain, size in layers:
                holders.setdefault(chain, set()).add(image_id)
                sizes[chain] = size
        return holders, sizes

    def usage(self, of: list[str], present: list[str] | None = None) -> tuple[dict[str, Usage], int]:
        """What each image of `of` (ids) costs, counting the other images on the engine (`present`: the ids
        of the engine's images, when the caller has listed them already), and what they take together with
        every layer counted once."""
        holders, sizes = self._holders(present)
        found: dict[str, Usage] = {}
        together: set[str] = set()
        for image_id in of:
            layers = self._layers.get(image_id)
            if layers is None:
                continue
            own = sum(size for chain, size in layers if len(holders.get(chain, ())) <= 1)
            found[image_id] = Usage(own, sum(size for _, size in layers) - own)
            together.update(chain for chain, _ in layers)
        return found, sum(sizes.get(chain, 0) for chain in together)

    def freed_by(self, ids: list[str]) -> int:
        """The bytes removing these images (ids) would free: their layers no other image holds."""
        holders, sizes = self._holders()
        gone = set(ids)
        return sum(size for chain, size in sizes.items() if holders[chain] and holders[chain] <= gone)
