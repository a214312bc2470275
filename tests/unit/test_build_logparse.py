"""Failure reasons and progress read from real build output (captured on the 20.10 engine)."""

import pytest

from localhub.images.logparse import REASON_PREFIX, failure_reason, step_progress

pytestmark = pytest.mark.unit

BUILDKIT_RUN_FAILED = """\
#5 [2/3] RUN echo hello
#5 0.179 hello
#5 DONE 0.2s

#6 [3/3] RUN false
#6 ERROR: executor failed running [/bin/sh -c false]: exit code: 1
------
 > [3/3] RUN false:
------
executor failed running [/bin/sh -c false]: exit code: 1
"""

BUILDX_RUN_FAILED = """\
#6 [3/3] RUN pip install nothing-here
#6 ERROR: process "/bin/sh -c pip install nothing-here" did not complete successfully: exit code: 2
ERROR: failed to solve: process "/bin/sh -c pip install nothing-here" did not complete successfully: exit code: 2
"""

LEGACY_RUN_FAILED = """\
Step 3/3 : RUN false
 ---> Running in 4824eaa58a53
The command '/bin/sh -c false' returned a non-zero code: 1
"""

BUILDKIT_MISSING_BASE = """\
#3 [internal] load metadata for docker.io/localhub/nonexistent:nope
#3 ERROR: failed to do request: Head "https://example.invalid/v2/localhub/nonexistent/manifests/nope": no such host
------
 > [internal] load metadata for docker.io/localhub/nonexistent:nope:
------
failed to solve with frontend dockerfile.v0: failed to create LLB definition: failed to do request
"""

GIT_NOT_FOUND = """\
Picked Git content provider.
Cloning into '/tmp/repo2dockero0kvwegj'...
fatal: '/tmp/lh/nonexistent' does not appear to be a git repository
fatal: Could not read from remote repository.
Error during build: Failed to clone repository from file:///tmp/lh/nonexistent (ref 9d07fd6cce56589d3a6bb1be422238d4dad26c16).
"""

GIT_BAD_REF = """\
Cloning into '/tmp/repo2docker48epvwp0'...
fatal: Could not parse object 'deadbeefdeadbeefdeadbeefdeadbeefdeadbeef'.
Error during build: Command '['git', 'reset', '--hard', 'deadbeefdeadbeefdeadbeefdeadbeefdeadbeef']' returned non-zero exit status 128.
"""


@pytest.mark.parametrize(
    "log, reason",
    [
        (BUILDKIT_RUN_FAILED, "the Dockerfile's step `RUN false` failed (exit code 1)"),
        (BUILDX_RUN_FAILED, "the Dockerfile's step `RUN pip install nothing-here` failed (exit code 2)"),
        (LEGACY_RUN_FAILED, "the Dockerfile's step `RUN false` failed (exit code 1)"),
        (BUILDKIT_MISSING_BASE, "the base image `localhub/nonexistent:nope` is not on this machine and could not be pulled"),
        ("Step 1/2 : FROM ghost:1\nGet \"https://example.invalid/v2/\": dial tcp: no such host\npull access denied for ghost",
         "the base image `ghost:1` is not on this machine and could not be pulled"),
        ('failed to compute cache key: "/missing.txt" not found: not found', "the Dockerfile copies `missing.txt`, which is not in the repository"),
        ("COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist",
         "the Dockerfile copies `missing.txt`, which is not in the repository"),
        ("failed to solve with frontend dockerfile.v0: failed to create LLB definition: dockerfile parse error line 3: unknown instruction: FOO",
         "the Dockerfile has an error on line 3: unknown instruction: FOO"),
        (GIT_NOT_FOUND, "repository not found at file:///tmp/lh/nonexistent"),
        (GIT_BAD_REF, "commit `deadbeefdead` was not found in the repository"),
        ("the --chmod option requires BuildKit. Refer to the docs", "the Dockerfile uses `--chmod`, which needs BuildKit (install the docker buildx plugin)"),
    ],
)
def test_reasons(log, reason):
    assert failure_reason(log.splitlines()) == reason


def test_the_engines_own_reason_wins():
    lines = [*BUILDKIT_RUN_FAILED.splitlines(), f"{REASON_PREFIX}something precise"]
    assert failure_reason(lines) == "something precise"


def test_long_multiline_steps_become_one_short_line():
    command = "/bin/sh -c apt-get update && \\\n    apt-get install --yes " + "pkg " * 60
    reason = failure_reason([f"executor failed running [{command}]: exit code: 100"])
    assert "\n" not in reason and len(reason) < 200
    assert reason.startswith("the Dockerfile's step `RUN apt-get update")
    assert reason.endswith("failed (exit code 100)")


def test_unknown_failures_still_say_something_short():
    assert failure_reason(["Error during build: boom\n"]) == "boom"
    assert failure_reason([], exit_code=3) == "the build failed (exit code 3); the build log has the details"
    reason = failure_reason(["x" * 1000 + " ERROR"], exit_code=1)
    assert len(reason) <= 300


def test_step_progress():
    assert step_progress("#4 [1/3] FROM docker.io/localhub/singleuser:test") == 0.0
    assert step_progress("#6 [2/3] COPY --chown=1000:1000 . /home/jovyan") == pytest.approx(1 / 3)
    assert step_progress("#9 [stage-1 4/5] RUN make") == pytest.approx(3 / 5)
    assert step_progress("Step 2/4 : RUN true") == pytest.approx(1 / 4)
    assert step_progress("#6 DONE 0.0s") is None
    assert step_progress("#3 [internal] load metadata for x") is None


BUILDPACK_STEP_FAILED = """\
#14 [10/19] RUN TIMEFORMAT='time: %3R' bash -c 'time /tmp/install-base-env.bash' && rm -rf /tmp/install-base-env.bash /tmp/env
#14 0.250 + wget -qO- https://example.invalid/micromamba.tar.bz2
#14 0.250 /tmp/install-base-env.bash: line 20: wget: command not found
#14 0.253 tar (grandchild): bzip2: Cannot exec: No such file or directory
#14 0.255 tar: Error is not recoverable: exiting now
#14 0.256 time: 0.018
#14 ERROR: executor failed running [/bin/sh -c TIMEFORMAT='time: %3R' bash -c 'time /tmp/install-base-env.bash' && rm -rf /tmp/install-base-env.bash /tmp/env]: exit code: 2
------
executor failed running [/bin/sh -c TIMEFORMAT='time: %3R' bash -c 'time /tmp/install-base-env.bash' && rm -rf /tmp/install-base-env.bash /tmp/env]: exit code: 2
"""

PIP_FAILED_LEGACY = """\
Step 4/9 : RUN pip install nothing-here
 ---> Running in 0123456789ab
ERROR: Could not find a version that satisfies the requirement nothing-here (from versions: none)
ERROR: No matching distribution found for nothing-here
[notice] A new release of pip is available
The command '/bin/sh -c pip install nothing-here' returned a non-zero code: 1
"""


def test_a_failed_steps_telling_output_is_added():
    reason = failure_reason(BUILDPACK_STEP_FAILED.splitlines())
    assert reason.endswith("failed (exit code 2): /tmp/install-base-env.bash: line 20: wget: command not found")
    assert failure_reason(PIP_FAILED_LEGACY.splitlines()) == (
        "the Dockerfile's step `RUN pip install nothing-here` failed (exit code 1): "
        "ERROR: No matching distribution found for nothing-here"
    )


def test_step_progress_with_padded_step_numbers():
    assert step_progress("#5 [ 2/19] RUN apt-get update") == pytest.approx(1 / 19)
    assert step_progress("#9 [stage-1 10/19] RUN make") == pytest.approx(9 / 19)
