"""Storage use read by many callers at once (concurrent launches each check their server's storage): the
engine runs one disk-usage report at a time and refuses the others, and volume_usage waits its turn."""

from __future__ import annotations

import threading

import docker
import pytest

from localhub.storage import volume_usage

pytestmark = pytest.mark.docker


def test_concurrent_storage_checks_all_get_an_answer():
    client = docker.from_env()
    errors, answers = [], []

    def check():
        for _ in range(15):
            try:
                answers.append(volume_usage(client.api))
            except docker.errors.APIError as err:
                errors.append(str(err))

    threads = [threading.Thread(target=check) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(answers) == 120
