"""Test helper run inside a namespace: what a lab member, a stranger and an attacker send to an agent, and a
fake mDNS record that copies a lab's fingerprint without holding its key.

    python -m tests.lan.probe attack --state-dir DIR --address A --port P --node N --cert C
        prints one JSON object: case -> {"status", "reason", "verified"}
    python -m tests.lan.probe impostor --address A --fingerprint FP --port P
        announces a `_localhub._tcp` record claiming lab FP until SIGTERM
    python -m tests.lan.probe knock --state-dir DIR --target NODE,ADDRESS,PORT,CERT ... [--impersonate NODE]
        a member asking the targets' agents for their status until SIGTERM, one JSON line per answer
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import signal

import httpx

from localhub.pool.trust import signing
from localhub.pool.away.client import PeerAddress, PeerClient, PeerError
from localhub.pool.trust.keys import Lab
from localhub.pool.trust.members import load_membership, start_lab
from localhub.pool.trust.tls import pinned_context


async def attack(args) -> dict:
    lab = load_membership(args.state_dir)
    peer = PeerAddress(args.node, args.address, args.port, args.cert)
    url = f"https://{args.address}:{args.port}"
    ctx = await pinned_context(args.address, args.port, args.cert)
    results: dict[str, dict] = {}

    async def send(case, method, path, body=b"", headers=None):
        async with httpx.AsyncClient(verify=ctx, timeout=5) as http:
            r = await http.request(method, url + path, content=body, headers=headers or {})
        try:
            signing.verify_member_response(lab, r.status_code, r.headers, r.content,
                                           (headers or {}).get(signing.H_NONCE, ""), args.node)
            verified = True
        except signing.Refused:
            verified = False
        results[case] = {"status": r.status_code, "reason": r.json().get("reason"), "verified": verified,
                         "body": r.json()}

    # a member, through the product's client (TLS pinned, signed, answer checked)
    client = PeerClient(lab)
    status = await client.status(peer)
    results["member-status"] = {"status": 200, "state": status["state"], "figures": status["figures"],
                                "idle": status["idle"]}
    yes = await client.offer(peer, {"cpus": 1, "memory": "1G", "storage": "1Gi"})
    no = await client.offer(peer, {"cpus": 64, "memory": "1G", "storage": "1Gi"})
    results["member-offer"] = {"small": yes, "too-big": no}

    path, body = "/pool/v1/offer", json.dumps({"cpus": 1, "memory": "1G", "storage": "1Gi"}).encode()
    await send("unsigned", "POST", path, body)
    # a desktop of another lab (its own authority, its own card)
    import tempfile
    from pathlib import Path

    elsewhere = Path(tempfile.mkdtemp())
    start_lab(elsewhere)
    other = load_membership(elsewhere)
    await send("other-lab", "POST", path, body, {**signing.sign_member_request(other, "POST", path, body, args.node),
                                                 signing.H_NODE: lab.node})
    forged = signing.sign_member_request(other, "POST", path, body, args.node)
    forged.update({signing.H_LAB: lab.fingerprint, signing.H_NODE: lab.node,
                   signing.H_CARD: lab.card.text})  # our card, claimed with another key: the signature fails
    await send("wrong-key", "POST", path, body, forged)
    signed = signing.sign_member_request(lab, "POST", path, body, args.node)
    await send("tampered-body", "POST", path, body.replace(b'"cpus": 1', b'"cpus": 9'), signed)
    await send("first-use", "POST", path, body, signed)
    await send("replayed", "POST", path, body, dict(signed))
    await send("stale", "POST", path, body, signing.sign_member_request(lab, "POST", path, body, args.node, now=0))
    try:
        await PeerClient(other).status(peer)
        results["client-with-wrong-key"] = {"error": None}
    except PeerError as err:
        results["client-with-wrong-key"] = {"error": str(err)}
    return results


async def impostor(args) -> None:
    from zeroconf.asyncio import AsyncServiceInfo

    from localhub.pool.discovery import SERVICE_TYPE, build_txt, new_zeroconf

    fake = Lab(secrets.token_bytes(32), secrets.token_hex(8))
    txt = {**build_txt(fake, "e" * 32, "idle", 8, True), "fp": args.fingerprint}  # copied fp, own tag
    azc = new_zeroconf([args.address])
    info = AsyncServiceInfo(SERVICE_TYPE, f"impostor.{SERVICE_TYPE}", port=args.port, properties=txt,
                            server="impostor.local.", parsed_addresses=[args.address])
    await (await azc.async_register_service(info))
    print(json.dumps({"event": "registered"}), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await (await azc.async_unregister_service(info))
    await azc.async_close()


async def knock(args) -> None:
    """A member asking each target's agent for its status every `--every` s, one JSON line per answer; first,
    one request to each target claiming to be node `--impersonate` (with this member's own card)."""
    import time

    lab = load_membership(args.state_dir)
    targets = [PeerAddress(*t.split(",")[:2], int(t.split(",")[2]), t.split(",")[3]) for t in args.target]
    contexts = {t.node: await pinned_context(t.address, t.port, t.cert) for t in targets}

    async def ask(target, headers):
        async with httpx.AsyncClient(verify=contexts[target.node], timeout=3) as http:
            r = await http.get(f"https://{target.address}:{target.port}/pool/v1/status", headers=headers)
        return r.status_code, r.json().get("reason")

    for target in targets:
        if args.impersonate:
            headers = {**signing.sign_member_request(lab, "GET", "/pool/v1/status", b"", target.node),
                       signing.H_NODE: args.impersonate}
            status, reason = await ask(target, headers)
            print(json.dumps({"event": "impersonation", "target": target.node, "status": status, "reason": reason}),
                  flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    while not stop.is_set():
        for target in targets:
            headers = signing.sign_member_request(lab, "GET", "/pool/v1/status", b"", target.node)
            try:
                status, reason = await ask(target, headers)
            except httpx.HTTPError as err:
                status, reason = 0, type(err).__name__
            print(json.dumps({"event": "answer", "target": target.node, "at": time.time(), "status": status,
                              "reason": reason}), flush=True)
        try:
            await asyncio.wait_for(stop.wait(), args.every)
        except asyncio.TimeoutError:
            pass


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    k = sub.add_parser("knock")
    k.add_argument("--state-dir", required=True)
    k.add_argument("--target", action="append", required=True, help="node,address,port,cert")
    k.add_argument("--every", type=float, default=0.2)
    k.add_argument("--impersonate", default="")
    a = sub.add_parser("attack")
    a.add_argument("--state-dir", required=True)
    i = sub.add_parser("impostor")
    i.add_argument("--fingerprint", required=True)
    for p in (a, i):
        p.add_argument("--address", required=True)
        p.add_argument("--port", type=int, required=True)
    a.add_argument("--node", required=True)
    a.add_argument("--cert", required=True)
    args = parser.parse_args()
    if args.command == "attack":
        print(json.dumps(asyncio.run(attack(args))))
    elif args.command == "knock":
        asyncio.run(knock(args))
    else:
        asyncio.run(impostor(args))


if __name__ == "__main__":
    main()
