#!/usr/bin/python3
"""The client side of bench/soak.sh: many threads drive an enforcing ddlgate with
a random mix of what real clients do (and some of what broken ones do) for a
while, check every answer, and write what they saw as JSON.

Each action checks its own answer: reads and writes succeed, an unapproved
CREATE TABLE is 42501, a denial inside a transaction makes COMMIT roll back the
work before it, a cancelled pg_sleep is 57014, and so on. Connections that the
action breaks on purpose (a half-sent message, garbage, a hang-up in the middle
of a result) must not disturb anyone else. Meanwhile another thread sends SIGHUP
with full-statement logging switched on and off.

Output (stdout): {"actions": {...}, "failures": [...], "denied_tables": [...],
"rolled_back_customers": [...], "sessions_current_after": N}
"""
import argparse
import json
import os
import random
import re
import signal
import socket
import struct
import threading
import time
import urllib.request

import psycopg
from psycopg import errors, sql

lock = threading.Lock()
counts = {}
failures = []
denied_tables = []
rolled_back = []
glass_tables = []


def count(name):
    with lock:
        counts[name] = counts.get(name, 0) + 1


def fail(action, what):
    with lock:
        if len(failures) < 200:
            failures.append(f"{action}: {what}")


def sqlstate(exc):
    return getattr(getattr(exc, "diag", None), "sqlstate", None)


class Worker(threading.Thread):
    def __init__(self, index, args, stop):
        super().__init__(daemon=True)
        self.index, self.args, self.stop = index, args, stop
        self.rng = random.Random(args.seed * 1000 + index)
        self.n = 0
        self.conn = None

    def dsn(self):
        return f"host=127.0.0.1 port={self.args.port} user=postgres dbname=postgres connect_timeout=10"

    def connection(self):
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.conn = psycopg.connect(self.dsn(), autocommit=True)
        return self.conn

    def name(self, prefix):
        self.n += 1
        return f"{prefix}_w{self.index}_{self.n}"

    def run(self):
        actions = [
            (30, self.read_write), (10, self.denied_ddl), (6, self.denial_in_transaction),
            (6, self.pipeline_with_denial), (6, self.prepared), (4, self.copy_in_and_out),
            (3, self.cancel_sleep), (3, self.listen_notify), (3, self.large_row),
            (3, self.half_message_then_hang_up), (3, self.garbage), (3, self.hang_up_mid_result),
            (2, self.new_connection), (3, self.break_glass_session), (3, self.hostile_text),
        ]
        weights = [w for w, _ in actions]
        while not self.stop.is_set():
            _, action = self.rng.choices(actions, weights)[0]
            try:
                action()
                count(action.__name__)
            except Exception as exc:  # any unexpected answer is a failure, with what it was
                fail(action.__name__, f"{type(exc).__name__}: {exc}")
                if self.conn is not None:
                    try:
                        self.conn.close()
                    except Exception:
                        pass
                    self.conn = None

    # --- what applications do ------------------------------------------------
    def read_write(self):
        c = self.connection()
        customer = self.name("rw")
        c.execute("insert into orders (customer, total_cents) values (%s, %s)", (customer, self.rng.randint(0, 10**6)))
        got = c.execute("select count(*) from orders where customer = %s", (customer,)).fetchone()[0]
        if got != 1:
            raise AssertionError(f"inserted {customer}, found {got}")

    def denied_ddl(self):
        table = self.name("soak")
        try:
            self.connection().execute(sql.SQL("create table {} (x int)").format(sql.Identifier(table)))
        except errors.InsufficientPrivilege:
            with lock:
                denied_tables.append(table)
            return
        raise AssertionError(f"create table {table} was not refused")

    def denial_in_transaction(self):
        c = self.connection()
        customer = self.name("tx")
        table = self.name("soak")
        try:
            with c.transaction():
                c.execute("insert into orders (customer, total_cents) values (%s, 1)", (customer,))
                c.execute(sql.SQL("create table {} (x int)").format(sql.Identifier(table)))
        except errors.InsufficientPrivilege:
            with lock:
                denied_tables.append(table)
                rolled_back.append(customer)
        else:
            raise AssertionError("the denial inside the transaction was not raised")
        got = c.execute("select count(*) from orders where customer = %s", (customer,)).fetchone()[0]
        if got != 0:
            raise AssertionError(f"work before the denial was committed ({customer})")

    def pipeline_with_denial(self):
        c = self.connection()
        table = self.name("soak")
        refused = False
        try:
            with c.pipeline():
                c.execute("select 1")
                c.execute(sql.SQL("create table {} (x int)").format(sql.Identifier(table)))
                c.execute("select 2")
        except errors.InsufficientPrivilege:
            refused = True
        except psycopg.errors.PipelineAborted:
            refused = True
        if not refused:
            raise AssertionError(f"create table {table} in a pipeline was not refused")
        with lock:
            denied_tables.append(table)
        if c.execute("select 3").fetchone()[0] != 3:
            raise AssertionError("the session did not go on after the pipeline")

    def prepared(self):
        c = self.connection()
        for _ in range(5):
            v = self.rng.randint(0, 10**9)
            if c.execute("select %s::bigint + 1", (v,), prepare=True).fetchone()[0] != v + 1:
                raise AssertionError("wrong answer from a prepared statement")

    def copy_in_and_out(self):
        c = self.connection()
        customer = self.name("copy")
        rows = self.rng.randint(1, 2000)
        with c.cursor() as cur:
            with cur.copy("copy orders (customer, total_cents) from stdin") as cp:
                for i in range(rows):
                    cp.write_row((customer, i))
            got = 0
            with cur.copy("copy (select id from orders where customer = %s) to stdout", (customer,)) as cp:
                for _ in cp.rows():
                    got += 1
        if got != rows:
            raise AssertionError(f"copied {rows} rows in, {got} out")

    def cancel_sleep(self):
        c = psycopg.connect(self.dsn(), autocommit=True)
        done = threading.Event()
        first = 0.05 + self.rng.random() * 0.2

        # A cancel travels on a connection of its own and can overtake the query it is
        # meant for (then PostgreSQL has nothing to cancel): like a user pressing Ctrl-C
        # again, repeat it every second until the query ends.
        def cancel():
            delay = first
            while not done.wait(delay):
                c.cancel()
                count("cancel_requests")
                delay = 1.0

        canceller = threading.Thread(target=cancel, daemon=True)
        canceller.start()
        try:
            try:
                c.execute("select pg_sleep(10)")
            except errors.QueryCanceled:
                return
            raise AssertionError("pg_sleep(10) was not cancelled")
        finally:
            done.set()
            canceller.join()
            c.close()

    def listen_notify(self):
        channel = self.name("ch")
        listener = psycopg.connect(self.dsn(), autocommit=True)
        got = []
        listener.add_notify_handler(lambda n: got.append((n.channel, n.payload)))
        try:
            listener.execute(sql.SQL("listen {}").format(sql.Identifier(channel)))
            self.connection().execute("select pg_notify(%s, %s)", (channel, "payload"))
            # psycopg 3.1 hands notifications to the handler as it reads other results.
            deadline = time.monotonic() + 5
            while (channel, "payload") not in got and time.monotonic() < deadline:
                listener.execute("select 1")
                time.sleep(0.01)
            if (channel, "payload") not in got:
                raise AssertionError("notification not received within 5 s")
        finally:
            listener.close()

    def large_row(self):
        size = self.rng.randint(1, 4) * 1_000_000
        got = self.connection().execute("select repeat('x', %s)", (size,)).fetchone()[0]
        if len(got) != size:
            raise AssertionError(f"asked for {size} bytes, got {len(got)}")

    def new_connection(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.connection().execute("select 1")

    def break_glass_session(self):
        """An on-call session: the token in the startup packet or by SET; a schema change runs
        (recorded as break_glass), then the token is reset and the next one is refused."""
        table = self.name("glass")
        by_startup = self.rng.random() < 0.5
        options = f"-c ddlgate.break_glass={self.args.token}" if by_startup else ""
        c = psycopg.connect(self.dsn(), autocommit=True, options=options)
        try:
            if not by_startup:
                c.execute(sql.SQL("set ddlgate.break_glass = {}").format(sql.Literal(self.args.token)))
            c.execute(sql.SQL("create table {} (x int)").format(sql.Identifier(table)))
            c.execute(sql.SQL("drop table {}").format(sql.Identifier(table)))
            with lock:
                glass_tables.append(table)
            c.execute("reset ddlgate.break_glass")
            refused = self.name("soak")
            try:
                c.execute(sql.SQL("create table {} (x int)").format(sql.Identifier(refused)))
            except errors.InsufficientPrivilege:
                with lock:
                    denied_tables.append(refused)
                return
            raise AssertionError(f"create table {refused} ran after the token was reset")
        finally:
            c.close()

    # --- what broken clients do ---------------------------------------------
    def hostile_text(self):
        """A text from the classifier's fuzz corpus, sent as one Query by a role without
        privileges in a database of its own: whatever it gets back, ddlgate must live on (the
        other actions notice if it does not)."""
        text = self.rng.choice(self.args.corpus)
        c = psycopg.connect(f"host=127.0.0.1 port={self.args.port} user=soak_hostile dbname=soak_hostile "
                            "connect_timeout=10", autocommit=True, options="-c statement_timeout=2000")
        try:
            c.execute(text)
        except (psycopg.Error, ValueError):
            pass  # refused, a syntax error, a NUL psycopg will not send, a closed session: all fine
        finally:
            c.close()

    def raw_session(self):
        s = socket.create_connection(("127.0.0.1", self.args.port), timeout=10)
        body = b"\x00\x03\x00\x00user\x00postgres\x00database\x00postgres\x00\x00"
        s.sendall(struct.pack("!I", len(body) + 4) + body)
        seen = b""
        while b"Z\x00\x00\x00\x05" not in seen:
            chunk = s.recv(65536)
            if not chunk:
                raise AssertionError("closed during startup")
            seen += chunk
        return s

    def half_message_then_hang_up(self):
        s = self.raw_session()
        query = b"select 1\x00"
        message = b"Q" + struct.pack("!I", len(query) + 4) + query
        s.sendall(message[: self.rng.randint(1, len(message) - 1)])
        s.close()

    def garbage(self):
        s = socket.create_connection(("127.0.0.1", self.args.port), timeout=10)
        s.sendall(os.urandom(self.rng.randint(1, 300)))
        try:
            while s.recv(65536):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
        s.close()

    def hang_up_mid_result(self):
        s = self.raw_session()
        query = b"select repeat('y', 10000000)\x00"
        s.sendall(b"Q" + struct.pack("!I", len(query) + 4) + query)
        s.recv(self.rng.randint(1, 65536))
        s.close()


def sighups(args, stop):
    """Every few seconds: full-statement logging on or off in the file, then SIGHUP."""
    on = False
    text = open(args.config).read()
    while not stop.wait(args.reload_every):
        on = not on
        new = re.sub(r"record_all_statements = (true|false)", f"record_all_statements = {'true' if on else 'false'}", text)
        with open(args.config + ".tmp", "w") as f:
            f.write(new)
        os.replace(args.config + ".tmp", args.config)
        os.kill(args.pid, signal.SIGHUP)
        count("sighup")


def sessions_current(admin):
    """ddlgate_sessions_current from /metrics; None when ddlgate does not answer."""
    try:
        with urllib.request.urlopen(admin + "/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("ddlgate_sessions_current "):
                    return int(float(line.split()[1]))
    except OSError:
        return None
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--admin", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--reload-every", type=float, default=5)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--break-glass-token-file", required=True)
    ap.add_argument("--corpus", required=True, help="a directory of SQL texts (tests/fuzz/corpus/fuzz_classifier)")
    args = ap.parse_args()
    args.corpus = [open(os.path.join(args.corpus, n), "rb").read() for n in sorted(os.listdir(args.corpus))]
    with open(args.break_glass_token_file) as f:
        args.token = f.read().strip()
    stop = threading.Event()
    workers = [Worker(i, args, stop) for i in range(args.clients)]
    reloader = threading.Thread(target=sighups, args=(args, stop), daemon=True)
    for w in workers:
        w.start()
    reloader.start()
    time.sleep(args.duration)
    stop.set()
    for w in workers:
        w.join(60)
        if w.is_alive():
            fail("shutdown", f"worker {w.index} still busy 60 s after the end")
        elif w.conn is not None:
            w.conn.close()
    reloader.join(10)
    # Every session closed by its client is gone from ddlgate within a few seconds.
    left = -1
    for _ in range(100):
        left = sessions_current(args.admin)
        if left == 0 or left is None:
            break
        time.sleep(0.1)
    if left is None:
        fail("ddlgate", "the admin listener does not answer: ddlgate is gone")
    elif left != 0:
        fail("leak", f"ddlgate still counts {left} session(s) after every client closed")
    json.dump({"seed": args.seed, "actions": counts, "failures": failures, "denied_tables": denied_tables,
               "rolled_back_customers": rolled_back, "break_glass_tables": glass_tables,
               "sessions_current_after": left}, os.sys.stdout)


if __name__ == "__main__":
    main()
