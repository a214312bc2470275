"""Joining with a short code (pool/trust/pairing.py), in-process on loopback (mDNS on 127.0.0.1 only): the
right code makes the joiner a member with its own card; a wrong code is refused and the joiner gets nothing
(no lab key, no card, nothing stored); three wrong codes close the invitation; an expired code is refused; a
used code works once."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncZeroconf

from localhub.errors import LocalhubError
from localhub.pool.trust import pairing
from localhub.pool.trust.keys import node_id
from localhub.pool.trust.members import Authority, in_a_lab, load_membership, start_lab
from localhub.pool.trust.tls import ensure_certificate, server_context

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def inviting(tmp_path):
    """(invitation, its code, a zeroconf for the joiner, the serving task) on loopback."""
    founder = tmp_path / "founder"
    start_lab(founder)
    lab = load_membership(founder)
    cert_path, key_path, cert = ensure_certificate(founder, lab.node)
    nameplate, password = pairing.new_code()
    clock = Clock()
    invitation = pairing.Invitation(Authority.load(founder), lab, cert, "127.0.0.1", 8470, nameplate, password,
                                    expires=clock.now + 600, clock=clock)
    azc_inviter = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    azc_joiner = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    serving = asyncio.ensure_future(pairing.serve_invitation(invitation, 0, server_context(cert_path, key_path),
                                                             azc_inviter))
    yield invitation, pairing.format_code(nameplate, password), azc_joiner, serving
    serving.cancel()
    await asyncio.gather(serving, return_exceptions=True)
    await azc_inviter.async_close()
    await azc_joiner.async_close()


def wrong(code: str) -> str:
    last = code[-1]
    return code[:-1] + ("A" if last != "A" else "B")


async def test_the_right_code_makes_a_member_with_its_own_card(inviting, tmp_path):
    invitation, code, azc, serving = inviting
    joined = await pairing.join(tmp_path / "new", code.lower(), azc)
    member = load_membership(tmp_path / "new")
    assert joined.lab == invitation.member.fingerprint == member.fingerprint
    assert member.card.node == node_id(tmp_path / "new") != invitation.member.node  # its own identity
    assert await asyncio.wait_for(serving, 5) == member.node
    pins = json.loads((tmp_path / "new" / "pool" / "peers.json").read_text())
    assert pins[invitation.member.node]["cert"] == invitation.cert  # the inviter, pinned as paired


async def test_a_wrong_code_gets_nothing_and_three_close_the_invitation(inviting, tmp_path):
    invitation, code, azc, serving = inviting
    for tries_left in (2, 1, 0):
        with pytest.raises(LocalhubError, match="Wrong code"):
            await pairing.join(tmp_path / "guess", wrong(code), azc)
        assert invitation.tries == tries_left and not in_a_lab(tmp_path / "guess")
        assert sorted(p.name for p in (tmp_path / "guess" / "pool").iterdir()) == ["node.json", "tls.crt", "tls.key"]
    assert await asyncio.wait_for(serving, 5) is None
    # the invitation is gone from the LAN: even the right code finds nothing now
    with pytest.raises(LocalhubError, match="No desktop on the LAN offers join code"):
        await pairing.join(tmp_path / "late", code, azc, seconds=1.5)


async def test_an_expired_code_is_refused(inviting, tmp_path):
    invitation, code, azc, serving = inviting
    invitation.clock.now += 601  # eleven minutes later, the invitation still answers, and says no
    with pytest.raises(LocalhubError, match="this code has expired"):
        await pairing.join(tmp_path / "slow", code, azc)
    assert not in_a_lab(tmp_path / "slow")


async def test_a_code_works_once(inviting, tmp_path):
    invitation, code, azc, serving = inviting
    invitation.joined = "f" * 16  # someone was quicker (and the process has not ended yet)
    with pytest.raises(LocalhubError, match="this code was used already"):
        await pairing.join(tmp_path / "second", code, azc)


def test_codes_are_short_and_read_back_leniently():
    nameplate, password = pairing.new_code()
    code = pairing.format_code(nameplate, password)
    assert len(code) == 12 and pairing.parse_code(code.lower().replace("-", " ")) == (nameplate, password)
    assert pairing.parse_code("37-K4QX-9M2O") == ("37", "K4QX9M20")  # O read as 0
