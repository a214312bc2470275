"""Memory kills become a notice on the server (issue 10, item 6): named from the kernel's log when readable,
else from the process list last seen; cleared when the server starts again; other containers ignored."""

from __future__ import annotations

import pytest

from localhub.server_watch import Process, ServerWatch, kernel_oom_victim, out_of_memory_notice

pytestmark = pytest.mark.unit

CID = "33777a65b7380418551dabec27934041048a378d2e2d6a090ae60b277846988e"
KERNEL_LOG = [
    "python3 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
    f"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset={CID},mems_allowed=0,oom_memcg=/docker/{CID},"
    f"task_memcg=/docker/{CID},task=python3,pid=1905,uid=1000",
    "Memory cgroup out of memory: Killed process 1905 (python3) total-vm:321084kB, anon-rss:101376kB, "
    "file-rss:5772kB, shmem-rss:0kB, UID:1000 pgtables:264kB oom_score_adj:0",
]


class Engine:
    """The few docker.DockerClient calls the watch makes."""

    def __init__(self):
        self.api = self
        self.running = True
        self.processes = {CID: [["1", "1000", "tini -g -- jupyterhub-singleuser"],
                                ["40", "90000", "/opt/venv/bin/python -m jupyterhub-singleuser"],
                                ["77", "1800000", "/opt/venv/bin/python -m ipykernel_launcher -f k.json"]]}

    def containers(self, filters):
        return [{"Id": CID, "Labels": {"localhub.server": "thesis"}}]

    def top(self, cid, ps_args):
        return {"Titles": ["PID", "RSS", "COMMAND"], "Processes": self.processes[cid]}

    def inspect_container(self, cid):
        return {"HostConfig": {"Memory": 2_000_000_000}, "State": {"Running": self.running}}


class Events:
    instance = "abc"

    def listen(self, container, callback):
        return lambda: None


def oom(name="localhub-abc-ada--thesis", status="oom", **labels):
    return {"status": status, "id": CID, "time": 1_700_000_000,
            "Actor": {"Attributes": {"name": name, "localhub.server": "thesis", **labels}}}


def test_the_kernel_log_names_the_victim_of_this_container():
    victim = kernel_oom_victim(CID, lambda: ["noise", *KERNEL_LOG, "later noise"])
    assert (victim.pid, victim.command, victim.rss) == (1905, "python3", 101376 * 1024)
    assert kernel_oom_victim("another-container", lambda: KERNEL_LOG) is None


def test_an_oom_event_becomes_a_notice_naming_the_process_and_the_limit():
    watch = ServerWatch(Engine(), Events(), read_kernel_log=lambda: KERNEL_LOG)
    watch.on_event(oom())
    text = watch.notice("localhub-abc-ada--thesis")
    assert text.startswith("out of memory: the kernel killed python3 (pid 1905, 99.0 MiB)")
    assert "1.9 GiB memory limit" in text and "restarts empty" in text and "--profile large" in text


def test_without_the_kernel_log_the_largest_vanished_process_is_named():
    engine = Engine()
    watch = ServerWatch(engine, Events(), read_kernel_log=lambda: [])
    watch.look()  # the periodic look: the kernel process holds 1.7 GiB
    engine.processes[CID] = engine.processes[CID][:2]  # then it is killed
    watch.on_event(oom())
    assert "the kernel killed a notebook's kernel (python, pid 77, 1.7 GiB)" in watch.notice("localhub-abc-ada--thesis")


def test_nothing_known_still_says_out_of_memory():
    engine = Engine()
    watch = ServerWatch(engine, Events(), read_kernel_log=lambda: [])
    engine.running = False
    watch.on_event(oom())
    text = watch.notice("localhub-abc-ada--thesis")
    assert text.startswith("out of memory: the kernel killed a process at this server's") and "the server stopped" in text


def test_the_notice_lasts_until_the_server_starts_again_and_ignores_other_containers():
    watch = ServerWatch(Engine(), Events(), read_kernel_log=lambda: KERNEL_LOG)
    watch.on_event(oom(name="meter", **{"localhub.role": "meter"}))
    assert watch.notice("meter") is None
    watch.on_event(oom())
    watch.on_event(oom(status="die"))
    assert watch.notice("localhub-abc-ada--thesis")
    watch.on_event(oom(status="start"))
    assert watch.notice("localhub-abc-ada--thesis") is None


def test_notice_wording_when_the_server_itself_was_killed():
    text = out_of_memory_notice(Process(1, 10 * 2**20, "jupyterhub-singleuser"), 10**9, 0, stopped=True)
    assert "killed jupyterhub-singleuser (pid 1, 10.0 MiB)" in text and "the server stopped" in text
