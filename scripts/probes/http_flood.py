#!/usr/bin/env python3
"""Floods a worker's HTTP server with stalled connections and reports how
it holds: the probe behind issue 25's HTTP limits (not a test).

    python3 scripts/probes/http_flood.py PID PUBLIC_ADDR [OPS_ADDR] [N]

Opens N connections (default 1100) to PUBLIC_ADDR that send half a request
head and stall, then times `GET /health/live` on a new connection to
PUBLIC_ADDR and to OPS_ADDR, and reads the worker's RSS (VmRSS of PID)
before and after. Prints one line per figure.
"""
import socket
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def live(addr):
    host, port = addr.rsplit(":", 1)
    start = time.monotonic()
    try:
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        status = data.split(b"\r\n", 1)[0].decode(errors="replace") or "closed without an answer"
    except OSError as e:
        status = f"error: {e}"
    return status, (time.monotonic() - start) * 1000


def main():
    pid, public = int(sys.argv[1]), sys.argv[2]
    ops = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] != "-" else None
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 1100
    host, port = public.rsplit(":", 1)
    before = rss_kib(pid)
    held, failed = [], 0
    for _ in range(n):
        try:
            s = socket.create_connection((host, int(port)), timeout=5)
            s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
            held.append(s)
        except OSError:
            failed += 1
    time.sleep(2)
    refused = 0
    for s in held:
        s.setblocking(False)
        try:
            if s.recv(64).startswith(b"HTTP/1.1 503"):
                refused += 1
        except OSError:
            pass
    print(f"connections opened {len(held)}, failed to open {failed}, answered 503 and closed {refused}")
    status, ms = live(public)
    print(f"public /health/live: {status} in {ms:.0f} ms")
    if ops:
        status, ms = live(ops)
        print(f"ops /health/live: {status} in {ms:.0f} ms")
    print(f"rss before {before} KiB, with the flood {rss_kib(pid)} KiB")


if __name__ == "__main__":
    main()
