"""localhub itself on the stick: `bundle create --with-installer` adds a wheelhouse (localhub and every
package it needs, for the laptops' Python), the offline base and single-user images, and a script, so that a
laptop with a Docker engine and Python but no internet installs from the bundle alone:

    tar -xf course.lhb installer/install-from-bundle.sh && sh installer/install-from-bundle.sh course.lhb
    # or, where some localhub already runs:  localhub bundle install course.lhb

The wheels are plain members of the bundle (`installer/<wheel>`, checked by `installer/SHA256SUMS` with
coreutils' sha256sum, as the laptop has nothing else yet). The wheelhouse is made on the teacher's machine,
which has the internet, with pip (`pip wheel` for localhub from its source tree, `pip download` for the rest),
and kept in the user cache for the next bundle.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .. import __version__
from ..errors import LocalhubError, shown

SCRIPT = Path(__file__).with_name("install-from-bundle.sh")
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "linux_x86_64")
BASE_IMAGES = ("localhub/base:latest",)


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no message"]
        raise LocalhubError(f"{what} failed: {last[0][:300]}")


def source_tree() -> Path | None:
    """localhub's source tree, when this localhub runs from one (a checkout, or an editable install)."""
    root = Path(__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "localhub"' in pyproject.read_text():
        return root
    return None


def installed_wheel() -> Path | None:
    """The wheel file this localhub was installed from, if pip recorded it and it is still there."""
    try:
        text = importlib.metadata.distribution("localhub").read_text("direct_url.json")
        url = json.loads(text or "{}").get("url", "")
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None
    path = Path(url.removeprefix("file://"))
    return path if url.startswith("file://") and path.suffix == ".whl" and path.is_file() else None


def _requirements() -> list[str]:
    reqs = importlib.metadata.distribution("localhub").requires or []
    return sorted(r for r in reqs if "extra ==" not in r)


@dataclass
class Installer:
    wheels: list[Path]
    python: str

    @classmethod
    def prepare(cls, python: str | None = None, wheelhouse: str | None = None, say=print) -> "Installer":
        python = python or f"{sys.version_info.major}.{sys.version_info.minor}"
        if wheelhouse:
            wheels = sorted(Path(wheelhouse).glob("*.whl"))
            if not any(w.name.startswith("localhub-") for w in wheels):
                raise LocalhubError(f"{shown(wheelhouse)} holds no localhub wheel; add one (`pip wheel --no-deps .` "
                                    "in localhub's source tree).")
            return cls(wheels, python)
        key = hashlib.sha256(json.dumps([python, __version__, _requirements()]).encode()).hexdigest()[:12]
        cache = Path(platformdirs.user_cache_dir("localhub")) / "wheelhouse" / f"py{python}-{key}"
        done = cache / ".complete"
        if not done.exists():
            say(f"Gathering localhub {__version__} and the packages it needs for Python {python} (once; kept in "
                f"{cache})…")
            tmp = Path(tempfile.mkdtemp(prefix=".wheelhouse-", dir=cache.parent if cache.parent.exists() else None))
            try:
                cls._gather(tmp, python)
                if cache.exists():
                    shutil.rmtree(cache)
                cache.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, cache)
                done.write_text(__version__ + "\n")
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return cls(sorted(cache.glob("*.whl")), python)

    @staticmethod
    def _gather(into: Path, python: str) -> None:
        own = installed_wheel()
        tree = source_tree()
        if own is not None:
            shutil.copy2(own, into)
        elif tree is not None:
            _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(into), str(tree)],
                 "Building localhub's wheel")
        else:
            raise LocalhubError("This localhub was installed from neither a source tree nor a wheel file that is "
                                "still here; pass --wheelhouse with a folder holding a localhub wheel.")
        wheel = next(into.glob("localhub-*.whl"))
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(into), "--only-binary=:all:",
               "--python-version", python, "--implementation", "cp"]
        for tag in PLATFORMS:
            cmd += ["--platform", tag]
        _run(cmd + [str(wheel), "pip"], "Downloading the packages localhub needs (pip download)")

    def images(self, settings) -> list[str]:
        """The images a laptop needs before any environment: the single-user image and the base."""
        return [settings.image, *BASE_IMAGES]

    def add_to(self, writer) -> dict:
        """Write the wheels, the script and the checksums into the bundle; returns the manifest's entry."""
        sums = []
        for wheel in self.wheels:
            part = writer.add_file(f"installer/{wheel.name}", wheel, "wheel")
            sums.append(f"{part.sha256}  {wheel.name}")
        script = writer.add_file("installer/install-from-bundle.sh", SCRIPT, "installer", mode=0o755)
        sums.append(f"{script.sha256}  install-from-bundle.sh")
        writer.add_bytes("installer/SHA256SUMS", ("\n".join(sums) + "\n").encode(), "installer")
        return {"version": __version__, "python": self.python, "platform": platform.machine(),
                "wheels": [w.name for w in self.wheels], "script": "installer/install-from-bundle.sh",
                "images": [], "made_on": f"Python {platform.python_version()}"}


def install_from_bundle(bundle: Path, settings, venv: Path | None = None, report=None, say=print) -> int:
    """`localhub bundle install`: the same as install-from-bundle.sh, from a localhub that runs already."""
    from .bundlefile import BundleReader

    venv = venv or Path(platformdirs.user_data_dir("localhub")).parent / "localhub-venv"
    with BundleReader(bundle) as reader, tempfile.TemporaryDirectory(prefix="localhub-install-") as tmp:
        installer = reader.manifest.installer
        if not installer:
            raise LocalhubError(f"{shown(bundle.name)} carries no installer; make it with "
                                "`localhub bundle create … --with-installer`.")
        wanted = f"{sys.version_info.major}.{sys.version_info.minor}"
        if installer["python"] != wanted:
            raise LocalhubError(f"{shown(bundle.name)} carries wheels for Python {installer['python']}; this is "
                                f"Python {wanted}.")
        for name in installer["wheels"]:
            (Path(tmp) / name).write_bytes(reader.read(f"installer/{name}"))  # each checked against the manifest
        say(f"Installing localhub {installer['version']} into {venv} from the bundle's {len(installer['wheels'])} "
            "wheels (no network)…")
        _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], "Making the virtual environment")
        pip = next(Path(tmp).glob("pip-*.whl"))
        _run([str(venv / "bin" / "python"), f"{pip}/pip", "install", "--quiet", "--no-index", "--find-links", tmp,
              "localhub"], "Installing the wheels")
    say("Loading the bundle's images (the base images and the environments)…")
    done = subprocess.run([str(venv / "bin" / "localhub"), "bundle", "import", str(bundle),
                           "--state-dir", str(settings.state_dir)])
    if done.returncode != 0:
        return done.returncode
    say(f"localhub is installed: start it with `{venv / 'bin' / 'localhub'} up`.")
    return 0
