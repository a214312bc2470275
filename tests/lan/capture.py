"""A packet capture on the simulated LAN's switch: a raw socket in the bridge namespace sees every frame that
crosses any port of the bridge, which is what anyone on a lab's network could record.

    python -m tests.lan.capture --out FILE      (run inside the bridge namespace; stops on SIGTERM)

writes each frame as a 4-byte big-endian length and the frame; prints {"event": "capturing"} once the socket
is open. `tcp_segments(FILE)` reads it back as (source, destination, payload) of each IPv4 TCP segment.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import struct
from pathlib import Path

ETH_P_ALL = 0x0003


def capture(out: Path) -> None:
    stop = False

    def finish(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, finish)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.settimeout(0.2)
    print(json.dumps({"event": "capturing"}), flush=True)
    with open(out, "wb") as f:
        while not stop:
            try:
                frame, where = sock.recvfrom(65535)
            except socket.timeout:
                continue
            if where[2] == socket.PACKET_OUTGOING:
                continue  # the bridge forwarding a frame: the same frame was seen arriving on its port
            f.write(struct.pack(">I", len(frame)) + frame)
    print(json.dumps({"event": "stopped"}), flush=True)


def frames(path: Path):
    data = Path(path).read_bytes()
    at = 0
    while at + 4 <= len(data):
        (size,) = struct.unpack(">I", data[at:at + 4])
        yield data[at + 4:at + 4 + size]
        at += 4 + size


def tcp_segments(path: Path):
    """(source "addr:port", destination "addr:port", payload) of every IPv4 TCP segment in the capture."""
    for frame in frames(path):
        if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
            continue
        ihl = (frame[14] & 0x0F) * 4
        total = struct.unpack(">H", frame[16:18])[0]
        tcp = frame[14 + ihl:14 + total]
        if len(tcp) < 20:
            continue
        sport, dport = struct.unpack(">HH", tcp[:4])
        offset = (tcp[12] >> 4) * 4
        src, dst = socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34])
        yield f"{src}:{sport}", f"{dst}:{dport}", tcp[offset:]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.lan.capture")
    parser.add_argument("--out", required=True)
    capture(Path(parser.parse_args().out))


if __name__ == "__main__":
    main()
