#!/usr/bin/env python3
"""Opens N idle PostgreSQL client sessions (startup + trust authentication, up
to ReadyForQuery) with raw sockets and reports a process's resident memory
(VmRSS) before and after. Used by bench/idle_memory.sh; standard library only.

Protocol: https://www.postgresql.org/docs/15/protocol-flow.html#id-1.10.6.7.3
"""
import argparse
import asyncio
import struct
import sys
import time

PROTOCOL_3_0 = 196608  # (3 << 16) | 0


def vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def open_session(host, port, user, database):
    reader, writer = await asyncio.open_connection(host, port)
    params = f"user\0{user}\0database\0{database}\0application_name\0idle_memory\0\0".encode()
    writer.write(struct.pack("!ii", 8 + len(params), PROTOCOL_3_0) + params)
    await writer.drain()
    while True:
        header = await reader.readexactly(5)
        kind, length = header[:1], struct.unpack("!i", header[1:])[0]
        if length < 4 or length > 1 << 20:
            raise RuntimeError(f"nonsense message length {length}")
        body = await reader.readexactly(length - 4)
        if kind == b"R" and struct.unpack("!i", body[:4])[0] != 0:
            raise RuntimeError("the server asks for a password; idle_memory.sh needs trust authentication")
        if kind == b"E":
            raise RuntimeError("server error: " + body.replace(b"\0", b" ").decode(errors="replace"))
        if kind == b"Z":
            return reader, writer


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="the process whose VmRSS is measured")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--user", default="postgres")
    ap.add_argument("--database", default="postgres")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds to wait before each measurement")
    args = ap.parse_args()

    time.sleep(args.settle)
    before = vm_rss_kib(args.pid)
    sessions = []
    batch = 50  # bounded concurrency: PostgreSQL forks a backend per session
    for start in range(0, args.count, batch):
        n = min(batch, args.count - start)
        sessions += await asyncio.gather(
            *(open_session(args.host, args.port, args.user, args.database) for _ in range(n)))
    await asyncio.sleep(args.settle)
    after = vm_rss_kib(args.pid)
    for _, writer in sessions:
        writer.write(b"X\0\0\0\4")  # Terminate
        writer.close()
    print(f"{before} {after} {len(sessions)}")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as e:  # one line for the shell script
        print(f"idle_clients.py: {e}", file=sys.stderr)
        sys.exit(1)
