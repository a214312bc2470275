"""Resolve a ref of a remote git repository to a commit sha with `git ls-remote`, with one-sentence errors."""

from __future__ import annotations

import os
import subprocess

from ..errors import ResolveError, URL_LIMIT, echo, shown
from .refs import is_full_sha

TIMEOUT_SECONDS = 60.0

_NETWORK_HINTS = (
    "could not resolve host",
    "failed to connect",
    "network is unreachable",
    "connection timed out",
    "connection refused",
    "temporary failure in name resolution",
    "name or service not known",
    "operation timed out",
    "could not resolve hostname",
)
_MISSING_HINTS = (
    "not found",
    "does not appear to be a git repository",
    "not a git repository",
    "does not exist",
    "terminal prompts disabled",
    "authentication failed",
    "could not read username",
    "permission denied",
)


def resolve_remote_ref(url: str, ref: str) -> str:
    """The commit sha `ref` names in the repository at `url` (a full sha is returned without asking anyone)."""
    if is_full_sha(ref):
        return ref.lower()
    output = _ls_remote(url, ref)
    found = _pick(output, ref)
    if found is None:
        hint = " (abbreviated commit ids need the full 40-character sha)" if _looks_like_short_sha(ref) else ""
        raise ResolveError(f"Ref {echo(ref)} was not found in {shown(url, URL_LIMIT)}{hint}.", kind="ref")
    return found


def _ls_remote(url: str, ref: str) -> dict[str, str]:
    env = dict(os.environ)
    # Never stop to ask for a password: a missing GitHub repository looks like a private one and would prompt.
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GCM_INTERACTIVE"] = "never"
    env["GIT_SSH_COMMAND"] = env.get("GIT_SSH_COMMAND", "ssh") + " -o BatchMode=yes"
    # ls-remote shows the peeled commit of an annotated tag only when asked for it by pattern.
    command = ["git", "ls-remote", "--", url, ref, ref + "^{}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, env=env)
    except FileNotFoundError:
        raise ResolveError("git is not installed, so git refs cannot be resolved.") from None
    except subprocess.TimeoutExpired:
        raise ResolveError(
            f"git ls-remote {url} gave no answer in {TIMEOUT_SECONDS:.0f} seconds: no network?", kind="network"
        ) from None
    if done.returncode != 0:
        raise _failure(url, done.stderr)
    refs: dict[str, str] = {}
    for line in done.stdout.splitlines():
        sha, _, name = line.partition("\t")
        if name and is_full_sha(sha):
            refs[name] = sha.lower()
    return refs


def _pick(refs: dict[str, str], ref: str) -> str | None:
    """Apply git's own precedence (gitrevisions): exact, refs/<ref>, tags, then branches."""
    names = [ref] if ref == "HEAD" or ref.startswith("refs/") else []
    names += [f"refs/{ref}", f"refs/tags/{ref}", f"refs/heads/{ref}", f"refs/remotes/{ref}"]
    for name in names:
        for candidate in (name + "^{}", name):
            if candidate in refs:
                return refs[candidate]
    return None


def _failure(url: str, stderr: str) -> ResolveError:
    text = stderr.lower()
    if any(hint in text for hint in _NETWORK_HINTS):
        return ResolveError(f"Could not reach {shown(url, URL_LIMIT)}: no network or the host is down.", kind="network")
    if any(hint in text for hint in _MISSING_HINTS):
        return ResolveError(f"Repository {shown(url, URL_LIMIT)} was not found (or is private).", kind="repo")
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    detail = lines[0].removeprefix("fatal: ").rstrip(".") if lines else "no message"
    return ResolveError(f"git ls-remote {shown(url, URL_LIMIT)} failed: {shown(detail)}.")


def _looks_like_short_sha(ref: str) -> bool:
    return 4 <= len(ref) < 40 and all(c in "0123456789abcdefABCDEF" for c in ref)
