"""Read build output: how far a build has got (from its step markers) and, when it fails, one line in
plain words saying why — never a traceback.

Knows the output of BuildKit (`#5 [2/3] RUN …`, `executor failed running […]: exit code: 1`), the
legacy builder (`Step 2/3 : …`, `The command '…' returned a non-zero code: 1`), git clones and
repo2docker's own errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

# Lines the engine writes when it already knows the reason; they win over any guess.
REASON_PREFIX = "localhub: build failed: "

_BUILDKIT_STEP = re.compile(r"^#\d+ \[(?:\S+ +)?\s*(\d+)/(\d+)\] ")  # `[ 5/19]`, `[stage-1 2/3]`
_LEGACY_STEP = re.compile(r"^Step (\d+)/(\d+) : ")


def step_progress(line: str) -> float | None:
    """Fraction of Dockerfile steps finished when `line` announces a step starting, else None."""
    match = _BUILDKIT_STEP.match(line) or _LEGACY_STEP.match(line)
    if not match:
        return None
    step, total = int(match[1]), int(match[2])
    return max(0.0, min(1.0, (step - 1) / total)) if total else None


def _shell_step(command: str) -> str:
    """`/bin/sh -c pip install x` → `RUN pip install x`, shortened to its first line."""
    command = command.strip()
    for shell in ("/bin/sh -c ", "/bin/bash -c ", "/bin/bash -o pipefail -c "):
        if command.startswith(shell):
            command = command[len(shell):]
            break
    first = command.strip().splitlines()[0] if command.strip() else command
    first = re.sub(r"\s+", " ", first).rstrip(" \\")
    if len(first) > 80 or "\n" in command.strip():
        first = first[:77].rstrip() + "…"
    return f"RUN {first}"


# (pattern, how to say it), most telling first: the first rule matching any line wins (newest line first).
_RULES: list[tuple[re.Pattern, Callable[[re.Match], str]]] = [
    # a Dockerfile step failed: BuildKit 20.10, newer BuildKit/buildx, the legacy builder
    (
        re.compile(r"executor failed running \[(.*)\]: (?:exit code: |.*?exit code )(\d+)", re.S),
        lambda m: f"the Dockerfile's step `{_shell_step(m[1])}` failed (exit code {m[2]})",
    ),
    (
        re.compile(r'process "(.*)" did not complete successfully: exit code: (\d+)', re.S),
        lambda m: f"the Dockerfile's step `{_shell_step(m[1])}` failed (exit code {m[2]})",
    ),
    (
        re.compile(r"The command '(.*)' returned a non-zero code: (\d+)", re.S),
        lambda m: f"the Dockerfile's step `{_shell_step(m[1])}` failed (exit code {m[2]})",
    ),
    # the Dockerfile itself is wrong
    (
        re.compile(r"dockerfile parse error (line \d+: .*)", re.I),
        lambda m: f"the Dockerfile has an error on {m[1].strip()}",
    ),
    (
        re.compile(r'failed to compute cache key: "?/?([^"]+?)"? not found'),
        lambda m: f"the Dockerfile copies `{m[1]}`, which is not in the repository",
    ),
    (
        re.compile(r"COPY failed: .*?stat (\S+): file does not exist"),
        lambda m: f"the Dockerfile copies `{m[1]}`, which is not in the repository",
    ),
    (
        re.compile(r"the (--\w[\w-]*) option requires BuildKit"),
        lambda m: f"the Dockerfile uses `{m[1]}`, which needs BuildKit (install the docker buildx plugin)",
    ),
    # the base image is missing
    (
        re.compile(r"^\s*> \[internal\] load metadata for (\S+?):$"),
        lambda m: f"the base image `{_short_image(m[1])}` is not on this machine and could not be pulled",
    ),
    (
        re.compile(r"pull access denied|manifest unknown|repository does not exist|manifest for \S+ not found"),
        lambda m: "the base image is not on this machine and could not be pulled",
    ),
    # fetching the repository
    (
        re.compile(r"does not appear to be a git repository|Repository not found|repository '.*' not found"),
        lambda m: "repository not found",
    ),
    (
        re.compile(r"Authentication failed|could not read Username|terminal prompts disabled"),
        lambda m: "the repository asks for a login (is it private?)",
    ),
    (
        re.compile(r"Could not resolve host: (\S+)|unable to access '.*': (.*)"),
        lambda m: f"could not reach the repository's host ({m[1] or m[2]})",
    ),
    (
        re.compile(r"Could not parse object '([0-9a-fA-F]+)'|Failed to check out ref (\S+)|reference is not a tree: (\S+)"),
        lambda m: f"commit `{(m[1] or m[2] or m[3])[:12]}` was not found in the repository",
    ),
    (
        re.compile(r"Failed to clone repository from (\S+?)\.?(?: \(ref .*\))?\.?$"),
        lambda m: f"could not clone the repository from {m[1]}",
    ),
    # the machine
    (
        re.compile(r"No space left on device"),
        lambda m: "the disk is full (No space left on device)",
    ),
    (
        re.compile(r"Cannot connect to the Docker daemon|Error while fetching server API version"),
        lambda m: "the Docker engine is not reachable — is Docker running?",
    ),
    (
        re.compile(r"Container engine initialization error: (.*)"),
        lambda m: f"repo2docker could not start its container engine: {m[1]}",
    ),
]


def _short_image(ref: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return ref


def one_line(text: str, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def failure_reason(lines: Iterable[str], exit_code: int | None = None) -> str:
    """One line, in plain words, saying why a build failed, from its log (oldest line first)."""
    lines = [line.rstrip("\r\n") for line in lines]
    newest_first = lines[::-1]
    for line in newest_first:
        if line.startswith(REASON_PREFIX):
            return one_line(line[len(REASON_PREFIX):])
    for pattern, say in _RULES:
        for line in newest_first:
            match = pattern.search(line)
            if match:
                reason = _with_context(say(match), lines)
                if "failed (exit code" in reason and (hint := _step_output_hint(lines)):
                    reason = f"{reason}: {hint}"
                return one_line(reason)
    for line in newest_first:
        if line.startswith("Error during build: "):
            return one_line(line[len("Error during build: "):])
    for line in newest_first:
        if re.match(r"^(ERROR|error|fatal)\b:?", line.strip()):
            return one_line(line.strip())
    code = f" (exit code {exit_code})" if exit_code is not None else ""
    return f"the build failed{code}; the build log has the details"


_NOT_A_HINT = re.compile(r"^(time: [\d.]+|\s*)$")  # repo2docker times its steps; blank lines say nothing
_ERRORISH = re.compile(r"^(ERROR|Error|error|E:|fatal|FATAL)\b")


def _step_output_hint(lines: list[str]) -> str | None:
    """The failing step's most telling output line: its last `ERROR…` line, else the first missing
    command or file, else its last line."""
    output: list[str] = []
    failed = next((m for line in reversed(lines) if (m := re.match(r"^#(\d+) ERROR: ", line))), None)
    if failed:  # BuildKit: `#14 0.255 tar: Error is not recoverable`
        prefix = re.compile(rf"^#{failed[1]} [\d.]+ (.*)$")
        output = [m[1] for line in lines if (m := prefix.match(line))]
    else:  # legacy: the lines between `Step n/m : RUN …` and `The command '…' returned …`
        ends = [i for i, line in enumerate(lines) if line.startswith("The command '")]
        starts = [i for i, line in enumerate(lines[: ends[-1]] if ends else []) if line.startswith("Step ")]
        if ends and starts:
            output = [
                line for line in lines[starts[-1] + 1 : ends[-1]]
                if not line.startswith((" ---> ", "Removing intermediate"))
            ]
    output = [line.strip() for line in output if not _NOT_A_HINT.match(line)]
    errors = [line for line in output if _ERRORISH.match(line)]
    if errors:
        return errors[-1]
    missing = [line for line in output if "command not found" in line or "No such file or directory" in line]
    if missing:
        return missing[0]  # the first missing thing explains the rest
    return output[-1] if output else None


def _with_context(reason: str, lines: list[str]) -> str:
    """Name the image or repository a generic reason is about, when the log says."""
    if reason.startswith("the base image is"):
        for line in lines:
            if match := re.match(r"^Step 1/\d+ : FROM (\S+)", line):
                return reason.replace("the base image", f"the base image `{match[1]}`", 1)
    if reason == "repository not found":
        for line in lines:
            if match := re.search(r"Failed to clone repository from (\S+?)\.?(?: \(ref .*\))?\.?$", line):
                return f"repository not found at {match[1]}"
    return reason
