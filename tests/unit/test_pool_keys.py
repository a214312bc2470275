"""Node id, a shared-key group's fingerprint, and peer pins."""

from __future__ import annotations

import stat

import pytest

from localhub.pool.trust import keys

pytestmark = pytest.mark.unit

KEY = bytes(range(32))


def test_node_id_is_made_once_and_kept_and_the_pool_dir_is_private(tmp_path):
    node = keys.node_id(tmp_path)
    assert len(node) == 16 and keys.node_id(tmp_path) == node
    assert stat.S_IMODE(keys.pool_dir(tmp_path).stat().st_mode) == 0o700


def test_fingerprints_differ_per_key_and_do_not_reveal_it():
    assert keys.fingerprint(KEY) != keys.fingerprint(bytes(32))
    assert KEY.hex()[:16] not in keys.fingerprint(KEY)


def test_pins_trust_on_first_use(tmp_path):
    pins = keys.PeerPins(tmp_path)
    assert pins.check("a" * 16, "lab1", "cert1", address="10.0.0.2") is True
    assert pins.check("a" * 16, "lab1", "cert1") is False
    with pytest.raises(keys.PinMismatch, match=r"pool forget aaaaaaaaaaaaaaaa"):
        pins.check("a" * 16, "lab1", "cert2")
    assert stat.S_IMODE(pins.path.stat().st_mode) == 0o600
    assert pins.forget("a" * 16) and not pins.forget("a" * 16)
    assert pins.check("a" * 16, "lab1", "cert2") is True
