#!/usr/bin/env python3
"""Writes the small seed corpus of the protocol fuzz targets (run from anywhere;
the files are committed, so this is only needed to change them)."""
import pathlib
import struct

here = pathlib.Path(__file__).resolve().parent / "corpus"


def untyped(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload) + 4) + payload


def startup(minor: int, params: dict) -> bytes:
    body = struct.pack(">HH", 3, minor)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    return untyped(body + b"\0")


def typed(t: str, body: bytes = b"") -> bytes:
    return t.encode() + struct.pack(">I", len(body) + 4) + body


def cstr(s: str) -> bytes:
    return s.encode() + b"\0"


def write(target: str, name: str, data: bytes) -> None:
    d = here / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


write("fuzz_startup", "startup_3_0", startup(0, {"user": "alice", "database": "app", "options": "-c x=y"}))
write("fuzz_startup", "startup_3_2", startup(2, {"user": "u"}))
write("fuzz_startup", "startup_grease", startup(9999, {"user": "u", "_pq_.x": "1"}))
write("fuzz_startup", "ssl_request", untyped(struct.pack(">I", 80877103)))
write("fuzz_startup", "gssenc_request", untyped(struct.pack(">I", 80877104)))
write("fuzz_startup", "cancel_4", untyped(struct.pack(">II", 80877102, 42) + b"abcd"))
write("fuzz_startup", "cancel_32", untyped(struct.pack(">II", 80877102, 42) + bytes(range(32))))
write("fuzz_startup", "direct_tls", bytes([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]))

# fuzz_frames: byte 0 = configuration, bytes 1..8 = chunk sizes, then the stream.
frontend = (typed("Q", cstr("CREATE TABLE t (a int)"))
            + typed("P", cstr("s") + cstr("SELECT $1") + struct.pack(">HI", 1, 23))
            + typed("B", cstr("") + cstr("s") + struct.pack(">HHH", 0, 0, 0))
            + typed("D", b"S" + cstr("s")) + typed("E", cstr("") + struct.pack(">I", 0))
            + typed("S") + typed("d", b"x" * 40) + typed("c") + typed("H")
            + typed("p", cstr("SCRAM-SHA-256") + struct.pack(">i", 3) + b"n,,")
            + typed("X"))
backend = (typed("R", struct.pack(">I", 10) + cstr("SCRAM-SHA-256") + b"\0")
           + typed("v", struct.pack(">II", 0, 1) + cstr("_pq_.x"))
           + typed("K", struct.pack(">I", 7) + bytes(range(32)))
           + typed("S", cstr("server_version") + cstr("15.8"))
           + typed("E", b"SERROR\0VERROR\0C42501\0Mdenied\0\0")
           + typed("N", b"SNOTICE\0Mhello\0\0") + typed("C", cstr("INSERT 0 1"))
           + typed("Z", b"I"))
write("fuzz_frames", "frontend_whole", bytes([2]) + bytes([255] * 8) + frontend)
write("fuzz_frames", "frontend_bytewise", bytes([2]) + bytes([0] * 8) + frontend)
write("fuzz_frames", "frontend_mixed", bytes([1 | 8 | 16]) + bytes([2, 7, 0, 30, 3, 1, 60, 4]) + frontend)
write("fuzz_frames", "backend_mixed", bytes([2 | 4]) + bytes([5, 1, 17, 0, 90, 3, 2, 11]) + backend)

write("fuzz_options", "dash_c", b"-c ddlgate.break_glass=v4.public.abc -c search_path=a\\ b")
write("fuzz_options", "long_dash", b"--ddlgate.break-glass=T --statement-timeout=5s")
write("fuzz_options", "cluster", b"-ec ddlgate.break_glass=T -Ecddlgate.break_glass=U")
write("fuzz_options", "end_of_options", b"-c a=1 -- -c ddlgate.break_glass=T x\\")
# fuzz_encoding: the first byte picks the (client, server) pair (see the target).
write("fuzz_encoding", "sjis", b"\x00select E'\x95\\'")
write("fuzz_encoding", "sjis2004_euc", b"\x08select '\x81\x5f'")
write("fuzz_encoding", "gb18030", b"\x05\x81\x30\x81\x30\x90\x30\x81\x30")
