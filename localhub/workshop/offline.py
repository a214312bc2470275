"""What this machine can launch with no network: the links of the bundles imported here and of the
environments fetched from a class, each with the commit it was built from and its image.

One small JSON file per source under `<state>/workshop/offline/` (`bundle-<id>.json`, `class-<spec hash>.json`),
each written whole by rename: the importer (a CLI process) and the daemon (class fetches) never write the
same file. The launcher asks `lookup(spec)` before it asks the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OfflineLink:
    spec: str
    resolved: str
    image: str
    image_id: str
    source: str  # "bundle course.lhb" or "the class (from laptop-3)"
    at: float  # when it was imported or fetched

    def to_dict(self) -> dict:
        return {"spec": self.spec, "resolved": self.resolved, "image": self.image, "image_id": self.image_id,
                "source": self.source, "at": self.at}


class OfflineLinks:
    def __init__(self, state_root: Path):
        self.root = Path(state_root) / "workshop" / "offline"

    def _write(self, name: str, record: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / name
        tmp = path.with_name(f".{name}.{os.getpid()}")
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, path)

    def records(self) -> list[dict]:
        found = []
        for path in self.root.glob("*.json"):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # a damaged record is skipped, never fatal
            if isinstance(record, dict) and isinstance(record.get("links"), list):
                found.append(record)
        return sorted(found, key=lambda r: r.get("at", 0), reverse=True)

    # --- writers ------------------------------------------------------------------------------------
    def add_bundle(self, bundle_id: str, name: str, file: str, size: int, links: list[dict],
                   images: list[str]) -> dict:
        record = {"kind": "bundle", "id": bundle_id, "name": name, "file": file, "size": size,
                  "at": time.time(), "links": links, "images": images}
        self._write(f"bundle-{bundle_id}.json", record)
        return record

    def add_fetched(self, link: dict, peer: str) -> dict:
        record = {"kind": "class", "from": peer, "at": time.time(), "links": [link], "images": [link["image_id"]]}
        self._write(f"class-{hashlib.sha256(link['spec'].encode()).hexdigest()[:16]}.json", record)
        return record

    # --- readers ------------------------------------------------------------------------------------
    def bundles(self) -> list[dict]:
        return [r for r in self.records() if r.get("kind") == "bundle"]

    def links(self) -> list[OfflineLink]:
        """Every offline link, newest source first (a spec may appear more than once)."""
        found = []
        for record in self.records():
            source = (f"bundle {record.get('name', '?')}" if record.get("kind") == "bundle"
                      else f"the class (from {record.get('from', '?')})")
            for link in record["links"]:
                try:
                    found.append(OfflineLink(link["spec"], link["resolved"], link["image"], link["image_id"],
                                             source, float(record.get("at", 0))))
                except (KeyError, TypeError, ValueError):
                    continue
        return found

    def lookup(self, spec: str) -> list[OfflineLink]:
        """The offline builds of `spec`, newest first."""
        return [link for link in self.links() if link.spec == spec]
