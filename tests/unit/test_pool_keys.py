"""Lab key, pairing code (round trip and typo detection), node id and peer pins."""

from __future__ import annotations

import stat

import pytest

from localhub.errors import LocalhubError
from localhub.pool.trust import keys

pytestmark = pytest.mark.unit

KEY = bytes(range(32))


def test_pairing_code_round_trip():
    for key in (KEY, bytes(32), b"\xff" * 32, keys.new_key()):
        code = keys.pairing_code(key)
        assert len(code.split("-")) == 8 and all(len(g) == 8 for g in code.split("-"))
        assert keys.parse_pairing_code(code) == key


def test_code_is_forgiving_about_how_it_is_typed():
    code = keys.pairing_code(KEY)
    assert keys.parse_pairing_code(code.lower()) == KEY
    assert keys.parse_pairing_code("  " + code.replace("-", " ") + "\n") == KEY
    assert keys.parse_pairing_code(code.replace("-", "")) == KEY
    assert keys.parse_pairing_code(code.replace("0", "O").replace("1", "l")) == KEY


def test_every_single_character_typo_names_its_group():
    code = keys.pairing_code(KEY)
    for pos, ch in enumerate(code):
        if ch == "-":
            continue
        group = pos // 9 + 1
        for other in keys.ALPHABET:
            if other == ch:
                continue
            typo = code[:pos] + other + code[pos + 1:]
            with pytest.raises(LocalhubError, match=rf"typo in group {group};"):
                keys.parse_pairing_code(typo)


def test_swapped_groups_and_swapped_neighbours_are_caught():
    groups = keys.pairing_code(KEY).split("-")
    swapped = groups[:]
    swapped[2], swapped[5] = swapped[5], swapped[2]
    with pytest.raises(LocalhubError, match="typo in groups 3, 6"):
        keys.parse_pairing_code("-".join(swapped))
    caught = total = 0
    for g in range(8):
        for i in range(7):
            s = list(groups[g])
            if s[i] == s[i + 1]:
                continue
            s[i], s[i + 1] = s[i + 1], s[i]
            total += 1
            try:
                keys.parse_pairing_code("-".join(groups[:g] + ["".join(s)] + groups[g + 1:]))
            except LocalhubError:
                caught += 1
    assert caught == total  # Luhn mod 32 misses only rare pairs; the whole-code check takes the rest


def test_missing_or_foreign_characters_are_named():
    groups = keys.pairing_code(KEY).split("-")
    short = groups[:3] + [groups[3][:-1]] + groups[4:]
    with pytest.raises(LocalhubError, match="Group 4 of the pairing code has 7 characters, not 8"):
        keys.parse_pairing_code("-".join(short))
    with pytest.raises(LocalhubError, match="has 63 letters and digits but needs 64"):
        keys.parse_pairing_code("".join(short))
    with pytest.raises(LocalhubError, match="'U' in group 2"):
        keys.parse_pairing_code("-".join([groups[0], "U" + groups[1][1:]] + groups[2:]))


def test_key_file_is_private_and_node_id_is_kept(tmp_path):
    assert keys.read_key(tmp_path) is None
    with pytest.raises(LocalhubError, match="pool init"):
        keys.load_lab(tmp_path)
    keys.store_key(tmp_path, KEY)
    path = keys.key_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    lab = keys.load_lab(tmp_path)
    assert lab.key == KEY and lab.node == keys.node_id(tmp_path) and len(lab.node) == 16
    assert lab.fingerprint == keys.fingerprint(KEY) and len(lab.fingerprint) == 16
    path.chmod(0o644)
    keys.read_key(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("not a key")
    with pytest.raises(LocalhubError, match="damaged"):
        keys.read_key(tmp_path)


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
