"""The build process: repo2docker, run so that it never outlives the daemon that started it.

The builder starts each build in a process group of its own, so that cancelling a build reaches
repo2docker and the docker CLI it runs. A daemon killed with SIGKILL cannot pass anything on, so this
process asks the kernel for SIGTERM when its parent dies (`PR_SET_PDEATHSIG`) and answers SIGTERM by
killing its whole group: the docker CLI goes too, and the engine drops a build whose client is gone,
instead of finishing it into an image nobody will ever tag or remove.

    python -m localhub.images.build_child PARENT_PID REPO2DOCKER_ARGS...
"""

from __future__ import annotations

import ctypes
import os
import runpy
import signal
import sys

PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


def _stop_group(*_) -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)


def die_with_parent(parent: int) -> None:
    """SIGTERM (→ the whole group killed) as soon as `parent` is gone, including already gone."""
    signal.signal(signal.SIGTERM, _stop_group)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before the request was made
        _stop_group()


def main() -> None:
    die_with_parent(int(sys.argv[1]))
    sys.argv = ["repo2docker", *sys.argv[2:]]
    runpy.run_module("repo2docker", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
