"""Merge a newer copy of some files into a folder a person works in, by nbgitpuller's rules, without ever
losing an edit. Used for class material going into participants' homes, and by `localhub servers sync`.

Three snapshots decide (path -> kind and content hash): `base`, what was given last time; `newer`, the copy
to give now; `home`, what the folder holds now (only the paths of base and newer are looked at, so a big
home costs nothing). Per path:

    new in the newer copy, absent here            -> added
    given before, untouched here, changed since   -> updated
    given before, deleted here, still upstream    -> restored (as nbgitpuller does)
    edited here, unchanged upstream               -> kept, nothing to say
    edited here and changed upstream              -> kept; conflict named, the newer version put beside it
    made here under a name the newer copy now adds -> kept; conflict named, the newer version put beside it
    given before, gone from the newer copy        -> left in place (a merge never deletes)
    a folder or link of yours where a file goes    -> kept; conflict named, nothing written there

Nothing in the folder is ever removed, renamed or overwritten unless it is byte for byte what was given
last time. The next base is the newer copy (`Plan.base_after`): an edit stays an edit, and a conflict is
named again only when the upstream file changes again.

    plan = plan_merge(base, newer, home)        # pure: decisions only
    apply_to_dir(plan, newer_root, target_root)  # writes (adapters for other targets: homes.py)
    merge_dirs(target, newer_root, base)         # both, for two folders on this machine
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

BUFFER = 1 << 20

ADD, UPDATE, RESTORE, KEEP, CONFLICT, LEFT, SAME = "add", "update", "restore", "keep", "conflict", "left", "same"


@dataclass(frozen=True)
class Entry:
    kind: str  # "file", "link" or "dir"
    digest: str = ""  # sha256 of a file's bytes or a link's target; empty for a folder
    executable: bool = False

    def to_dict(self) -> dict:
        return {"kind": self.kind, "digest": self.digest, "executable": self.executable}

    @classmethod
    def from_dict(cls, data: dict) -> "Entry":
        return cls(str(data["kind"]), str(data.get("digest", "")), bool(data.get("executable", False)))


Snapshot = dict  # relative POSIX path -> Entry (files and links; folders only where they are in the way)


def snapshot_to_json(snapshot: Snapshot) -> dict:
    return {path: entry.to_dict() for path, entry in sorted(snapshot.items())}


def snapshot_from_json(data: dict) -> Snapshot:
    return {str(path): Entry.from_dict(entry) for path, entry in (data or {}).items()}


@dataclass(frozen=True)
class Decision:
    path: str
    action: str
    reason: str = ""
    beside: str | None = None  # where the newer version was put when the person's version was kept

    @property
    def writes(self) -> str | None:
        """The path written (the newer version goes there), or None."""
        if self.action in (ADD, UPDATE, RESTORE):
            return self.path
        return self.beside


@dataclass
class Plan:
    decisions: list[Decision] = field(default_factory=list)
    base_after: Snapshot = field(default_factory=dict)

    def by_action(self, action: str) -> list[Decision]:
        return [d for d in self.decisions if d.action == action]

    @property
    def conflicts(self) -> list[Decision]:
        return self.by_action(CONFLICT)

    def writes(self) -> list[tuple[str, str]]:
        """(path to write, path in the newer copy to take it from)."""
        return [(d.writes, d.path) for d in self.decisions if d.writes]

    def summary(self) -> dict:
        counts = {a: len(self.by_action(a)) for a in (ADD, UPDATE, RESTORE, KEEP, CONFLICT, LEFT)}
        return {**counts, "conflicts": [{"path": d.path, "reason": d.reason, "beside": d.beside}
                                        for d in self.conflicts]}

    def describe(self) -> str:
        """One line: what happened, with the conflicts named."""
        counts = self.summary()
        parts = [f"{counts[ADD]} added", f"{counts[UPDATE]} updated"]
        if counts[RESTORE]:
            parts.append(f"{counts[RESTORE]} restored")
        if counts[KEEP]:
            parts.append(f"{counts[KEEP]} of your edited files kept")
        text = ", ".join(parts)
        if self.conflicts:
            text += "; conflicts (your version kept): " + "; ".join(
                f"{d.path} ({d.reason}{', newer version in ' + d.beside if d.beside else ''})"
                for d in self.conflicts)
        return text


def _parents(path: str) -> list[str]:
    parts = PurePosixPath(path).parts
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def beside_name(path: str, label: str, taken, occupied=None) -> str:
    """`lesson.ipynb` -> `lesson.<label>.ipynb` (then `lesson.<label>-2.ipynb`, …) beside the kept file: a
    name neither `taken` nor `occupied(name)` in the folder."""
    p = PurePosixPath(path)
    stem, suffix = (p.name, "") if p.name.startswith(".") and p.suffix == p.name else (p.stem, p.suffix)
    n = 1
    while True:
        name = f"{stem}.{label}{'' if n == 1 else f'-{n}'}{suffix}"
        candidate = str(p.with_name(name))
        if candidate not in taken and not (occupied and occupied(candidate)):
            return candidate
        n += 1


def plan_merge(base: Snapshot, newer: Snapshot, home: Snapshot, label: str = "newer", occupied=None) -> Plan:
    """The decisions for merging `newer` into a folder holding `home`, given `base` last time. `home` must
    hold every path of base and newer that exists in the folder, and any folder or link in the way of one;
    `occupied(path)` says whether another path exists there (asked for the names put beside kept files)."""
    plan = Plan(base_after=dict(newer))
    taken = set(home) | set(newer)
    for path in sorted(set(base) | set(newer)):
        b, n, h = base.get(path), newer.get(path), home.get(path)
        blocked = next((q for q in _parents(path) if q in home and home[q].kind != "dir"), None)
        if n is None:
            if h is not None and b is not None:
                if h == b:
                    plan.decisions.append(Decision(path, LEFT, "no longer in the newer copy; left in place"))
                else:
                    plan.decisions.append(Decision(path, CONFLICT, "you edited it and the newer copy no longer "
                                                                   "has it"))
            continue
        if blocked is not None:
            plan.decisions.append(Decision(path, CONFLICT, f"your {home[blocked].kind} {blocked} is where the "
                                                           "newer copy has a folder"))
            continue
        if h is not None and h.kind == "dir":
            plan.decisions.append(Decision(path, CONFLICT, "your folder is where the newer copy has a file"))
            continue
        if h is None:
            plan.decisions.append(Decision(path, RESTORE if b is not None else ADD,
                                           "you had deleted it" if b is not None else ""))
        elif h == n:
            plan.decisions.append(Decision(path, SAME))
        elif b is None:
            beside = beside_name(path, label, taken, occupied)
            taken.add(beside)
            plan.decisions.append(Decision(path, CONFLICT, "you made a file of this name and the newer copy adds "
                                                           "one", beside))
        elif h == b:
            plan.decisions.append(Decision(path, UPDATE))
        elif n == b:
            plan.decisions.append(Decision(path, KEEP, "edited by you"))
        else:
            beside = beside_name(path, label, taken, occupied)
            taken.add(beside)
            plan.decisions.append(Decision(path, CONFLICT, "edited by you and changed in the newer copy", beside))
    return plan


# --- folders on this machine -------------------------------------------------------------------------

def entry_of(path: Path) -> Entry | None:
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISLNK(st.st_mode):
        return Entry("link", hashlib.sha256(os.readlink(path).encode("utf-8", "surrogateescape")).hexdigest())
    if stat.S_ISDIR(st.st_mode):
        return Entry("dir")
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            return Entry("file", hashlib.file_digest(f, "sha256").hexdigest(), bool(st.st_mode & 0o111))
    return Entry("other")


def snapshot_dir(root: Path, paths=None) -> Snapshot:
    """Files and links under `root` (no link followed, `.git` left out); with `paths`, only those paths and
    whatever is in their way (a file or link where one of their folders should be)."""
    root = Path(root)
    found: Snapshot = {}
    if paths is None:
        for here, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != ".git" and not os.path.islink(os.path.join(here, d)))
            names = files + [d for d in os.listdir(here) if os.path.islink(os.path.join(here, d)) and d not in files]
            for name in sorted(set(names)):
                full = Path(here) / name
                entry = entry_of(full)
                if entry is not None and entry.kind in ("file", "link"):
                    found[full.relative_to(root).as_posix()] = entry
        return found
    for path in paths:
        for q in [*_parents(path), path]:
            if q in found:
                continue
            entry = entry_of(root / q)
            if entry is None:
                break
            if q != path and entry.kind == "dir":
                continue
            found[q] = entry
            if entry.kind != "dir":
                break
    return found


def apply_to_dir(plan: Plan, newer_root: Path, target_root: Path) -> None:
    """Write what the plan says into `target_root`, each file through a temporary name (never half a file)."""
    for dest, source in plan.writes():
        src, out = Path(newer_root) / source, Path(target_root) / dest
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.localhub-merge")
        tmp.unlink(missing_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), tmp)
        else:
            with open(src, "rb") as fin, open(tmp, "wb") as fout:
                while block := fin.read(BUFFER):
                    fout.write(block)
            os.chmod(tmp, 0o755 if os.access(src, os.X_OK) else 0o644)
        os.replace(tmp, out)


def merge_dirs(target: Path, newer_root: Path, base: Snapshot | None = None, label: str = "newer") -> Plan:
    """Merge the folder `newer_root` into `target` (both on this machine) and return what was done; keep
    `plan.base_after` for the next merge."""
    newer = snapshot_dir(newer_root)
    home = snapshot_dir(target, set(base or {}) | set(newer))
    plan = plan_merge(base or {}, newer, home, label, occupied=lambda p: os.path.lexists(Path(target) / p))
    apply_to_dir(plan, newer_root, target)
    return plan
