"""Signed agent requests and responses: what is accepted, and each refusal with its reason."""

from __future__ import annotations

import pytest

from localhub.pool.trust import signing

pytestmark = pytest.mark.unit

KEY, OTHER = b"k" * 32, b"o" * 32
ME, AGENT = "1111111111111111", "2222222222222222"
NOW = 1_800_000_000.0
BODY = b'{"cpus": 1, "memory": "2G", "storage": "2Gi"}'


def verifier(clock=lambda: NOW):
    return signing.RequestVerifier(KEY, AGENT, clock=clock)


def signed(key=KEY, body=BODY, now=NOW, nonce=None, to=AGENT, method="POST", path="/pool/v1/offer"):
    return signing.sign_request(key, method, path, body, ME, to, now=now, nonce=nonce)


def refusal(v, headers, body=BODY, method="POST", path="/pool/v1/offer") -> signing.Refused:
    with pytest.raises(signing.Refused) as info:
        v.verify(method, path, headers, body)
    return info.value


def test_good_request_is_accepted_and_names_its_sender():
    assert verifier().verify("POST", "/pool/v1/offer", signed(), BODY) == ME
    assert verifier().verify("GET", "/pool/v1/status", signed(method="GET", path="/pool/v1/status", body=b""),
                             b"") == ME


def test_unsigned_request():
    r = refusal(verifier(), {})
    assert (r.code, r.status) == ("unsigned", 401) and "not signed" in r.reason
    headers = signed()
    del headers[signing.H_SIG]
    assert refusal(verifier(), headers).code == "unsigned"


def test_request_from_another_lab():
    r = refusal(verifier(), signed(key=OTHER))
    assert r.code == "other-lab" and r.status == 403 and "another lab" in r.reason


def test_wrong_key_claiming_our_lab():
    headers = signed(key=OTHER)
    headers[signing.H_LAB] = signing.fingerprint(KEY)
    headers[signing.H_SIG] = signing.request_signature(OTHER, "POST", "/pool/v1/offer", signing.body_hash(BODY),
                                                 headers[signing.H_TIME], headers[signing.H_NONCE], ME, AGENT)
    r = refusal(verifier(), headers)
    assert r.code == "bad-signature" and "wrong key" in r.reason


def test_tampered_body_path_and_method():
    assert refusal(verifier(), signed(), body=BODY.replace(b"1", b"8")).code == "body-altered"
    forged = signed()
    forged[signing.H_BODY] = signing.body_hash(b"{}")
    assert refusal(verifier(), forged, body=b"{}").code == "bad-signature"
    assert refusal(verifier(), signed(), path="/pool/v1/status").code == "bad-signature"
    assert refusal(verifier(), signed(), method="PUT").code == "bad-signature"
    assert refusal(verifier(), signed(), path="/pool/v1/offer?x=1").code == "bad-signature"


def test_request_for_another_node():
    assert refusal(verifier(), signed(to="3333333333333333")).code == "wrong-recipient"


@pytest.mark.parametrize("offset, word", [(-61, "behind"), (-3600, "behind"), (61, "ahead of")])
def test_old_or_future_timestamp(offset, word):
    r = refusal(verifier(), signed(now=NOW + offset))
    assert r.code == "stale" and word in r.reason and "±60 s" in r.reason


def test_timestamps_within_the_window_pass():
    for offset in (-60, -30, 0, 30, 60):
        verifier().verify("POST", "/pool/v1/offer", signed(now=NOW + offset), BODY)


def test_replayed_request():
    v = verifier()
    headers = signed()
    v.verify("POST", "/pool/v1/offer", headers, BODY)
    r = refusal(v, dict(headers))
    assert r.code == "replayed" and "replayed" in r.reason


def test_nonces_are_forgotten_only_once_their_request_is_too_old_anyway():
    now = [NOW]
    v = signing.RequestVerifier(KEY, AGENT, clock=lambda: now[0])
    headers = signed(nonce="a" * 32)
    v.verify("POST", "/pool/v1/offer", headers, BODY)
    now[0] = NOW + 59
    assert refusal(v, headers).code == "replayed"
    now[0] = NOW + 61
    assert refusal(v, headers).code == "stale"  # the time check refuses what the cache may forget
    v.verify("POST", "/pool/v1/offer", signed(now=now[0], nonce="c" * 32), BODY)
    assert v.nonces._seen == {"c" * 32}


def test_malformed_headers():
    headers = signed()
    headers[signing.H_TIME] = "soon"
    assert refusal(verifier(), headers).code == "malformed"


def test_response_signature_binds_status_body_nonce_and_responder():
    nonce = "b" * 32
    body = b'{"state": "idle"}'
    headers = signing.sign_response(KEY, 200, body, nonce, AGENT, ME, now=NOW)
    check = dict(key=KEY, status=200, headers=headers, body=body, request_nonce=nonce, responder=AGENT,
                 recipient=ME, clock=lambda: NOW)
    signing.verify_response(**check)
    for change, code in ((dict(body=b'{"state": "busy"}'), "bad-signature"),
                         (dict(status=500), "bad-signature"),
                         (dict(request_nonce="c" * 32), "bad-signature"),
                         (dict(key=OTHER), "bad-signature"),
                         (dict(responder="3333333333333333"), "wrong-responder"),
                         (dict(headers={}), "unsigned"),
                         (dict(clock=lambda: NOW + 120), "stale")):
        with pytest.raises(signing.Refused) as info:
            signing.verify_response(**{**check, **change})
        assert info.value.code == code, change
