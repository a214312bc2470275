"""The lab's server policies, checked before JupyterHub creates anything.

JupyterHub itself limits how many named servers a user has; localhub adds the name rule (at most N
characters, lowercase letters, digits and '-', none of a Jupyter server's own routes), a known profile, an image that is on this machine and
storage under the profile's cap. `check_new_server` is shared by the API (clear 4xx before anything is
made) and the spawner (which re-checks for launches that come from JupyterHub's own pages).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import shown
from ..profiles import Profile, format_size

_NAME = re.compile(r"^[a-z]([a-z0-9]|-(?!-))*[a-z0-9]$|^[a-z]$")

# A named server lives at /user/U/NAME/ and the proxy routes by longest prefix, so a server named like a
# top-level route of a single-user server would take that route over from the user's default server
# (`api` gets /user/U/api/kernels, `lab` gets /user/U/lab). The routes that jupyter_server, jupyter-lsp,
# jupyter_server_terminals, JupyterLab, Notebook 7 and JupyterHub's singleuser extension register in
# localhub/singleuser (tests/integration/test_named_servers.py lists them from the image), and those of the
# extensions Binder images often add (nbclassic, voila, jupyter-server-proxy).
RESERVED_NAMES = frozenset({
    "api", "consoles", "custom", "edit", "files", "kernelspecs", "lab", "login", "logout", "lsp", "metrics",
    "nbconvert", "notebooks", "static", "terminals", "tree", "view",  # the image's routes
    "console", "doc", "hub", "nbextensions", "proxy", "voila",  # common extensions' routes
})


class PolicyError(Exception):
    """A request the policies refuse; the message is one sentence for the user."""


@dataclass(frozen=True)
class ServerRequest:
    name: str
    profile: Profile
    image: str


def check_server_name(name: str, max_length: int) -> None:
    if len(name) > max_length:
        raise PolicyError(
            f"Server name '{shown(name)}' is {len(name)} characters long; names are at most {max_length} characters "
            "(lowercase letters, digits and '-')."
        )
    if not _NAME.match(name):
        raise PolicyError(
            f"Server name '{shown(name)}' is not allowed: use lowercase letters, digits and single '-', "
            "starting with a letter and ending with a letter or digit (e.g. 'thesis-2')."
        )
    if name in RESERVED_NAMES:
        raise PolicyError(
            f"Server name '{name}' is reserved: every Jupyter server has a page at /user/USER/{name}/, and a "
            f"server of that name would take that page over from your default server; choose another "
            f"(e.g. '{name}-2')."
        )


def choose_image(options: dict, profile: Profile, default_image: str) -> str:
    return options.get("image") or profile.image or default_image


def check_image_present(image: str, image_exists) -> None:
    if not image_exists(image):
        raise PolicyError(
            f"Image '{shown(image)}' is not on this machine and localhub never pulls images: build it "
            "(scripts/build-images.sh makes the default one, `localhub launch` builds a Binder link) "
            "or choose another with --image."
        )


def check_storage(server: str, used: int | None, profile: Profile) -> None:
    if used is not None and used > profile.storage:
        raise PolicyError(
            f"Server '{server}' uses {format_size(used)} of storage, over its {format_size(profile.storage)} "
            f"cap (profile '{profile.name}'); start it with a larger profile "
            f"(`localhub servers start {server} --profile {'large' if profile.name != 'large' else 'NAME'}`) "
            "and delete files."
        )
