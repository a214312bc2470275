"""The options form of JupyterHub's own spawn page ("Add New Server", "Start"): a choice of resource profile, in
the manner of zero-to-jupyterhub's `profile_list` — one card per profile with its name, description and limits,
the server's current profile (else the hub's default) chosen.

The form only picks the profile: a server that already has options (a Binder launch's image, spec and
environment) keeps them, so restarting it from the hub's home page never loses its environment. A profile can
also be asked for in the query (`/hub/spawn/USER/NAME?profile=large`), as JupyterHub passes query arguments
through the same function.
"""

from __future__ import annotations

from html import escape

from tornado import web

from ..errors import shown
from ..profiles import Profiles, format_size


def _limits(profile) -> str:
    cpus = f"{profile.cpu:g} CPU" + ("" if profile.cpu == 1 else "s")
    return f"{cpus} · {format_size(profile.memory)} memory · {format_size(profile.storage)} storage"


def profile_form(profiles: Profiles, chosen: str) -> str:
    """The form's HTML: one radio card per profile, `chosen` checked (the first one when it is not known)."""
    if not profiles:
        return ""
    names = sorted(profiles, key=lambda n: (n != chosen, n))
    checked = chosen if chosen in profiles else names[0]
    cards = []
    for name in names:
        p = profiles[name]
        cards.append(
            f'<label class="localhub-profile" for="profile-{escape(name)}" style="display:flex;gap:.8em;'
            f'align-items:baseline;border:1px solid #ccd;border-radius:6px;padding:.6em .9em;margin:.4em 0;'
            f'cursor:pointer;font-weight:normal">'
            f'<input type="radio" name="profile" id="profile-{escape(name)}" value="{escape(name)}"'
            f'{" checked" if name == checked else ""}>'
            f'<span><strong>{escape(name)}</strong> — {escape(p.description)}<br>'
            f'<small class="text-muted">{escape(_limits(p))}</small></span></label>')
    return ('<fieldset id="localhub-profiles"><legend style="font-size:1.1em">Resources for this server</legend>'
            + "".join(cards) + "</fieldset>")


def options_from_form(formdata: dict, stored: dict, profiles: Profiles) -> dict:
    """The server's user_options: what it had (`stored`), with the profile the form (or query) chose."""
    chosen = (formdata.get("profile") or [""])[0].strip()
    if not chosen:
        return dict(stored)
    if chosen not in profiles:
        why = profiles.skipped.get(chosen) if hasattr(profiles, "skipped") else None
        raise web.HTTPError(400, why or f"There is no profile '{shown(chosen)}'; choose one of "
                                        f"{', '.join(sorted(profiles))}.")
    return {**stored, "profile": chosen}
