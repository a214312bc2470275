"""The build process: repo2docker, run so that it never outlives the daemon that started it.

The builder starts each build in a process group of its own, so that cancelling a build reaches
repo2docker and the docker CLI it runs. A daemon killed with SIGKILL cannot pass anything on, so this
process asks the kernel for SIGTERM when its parent dies (`PR_SET_PDEATHSIG`) and answers SIGTERM by
killing its whole group: the docker CLI goes too, and the engine drops a build whose client is gone,
instead of finishing it into an image nobody will ever tag or remove.

    python -m localhub.images.build_child PARENT_PID REPO2DOCKER_ARGS...
"""

from __future__ import annotations

import os
import runpy
import signal
import sys

from ..lifecycle import die_with_parent


def _stop_group(*_) -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)


def main() -> None:
    signal.signal(signal.SIGTERM, _stop_group)  # SIGTERM, also the parent's death's, takes the whole group
    die_with_parent(int(sys.argv[1]), on_parent_gone=_stop_group)
    sys.argv = ["repo2docker", *sys.argv[2:]]
    runpy.run_module("repo2docker", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
