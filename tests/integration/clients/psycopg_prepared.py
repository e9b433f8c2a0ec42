"""psycopg 3 (Debian python3-psycopg) prepared statements through ddlgate.

psycopg prepares a query on the server once it has run prepare_threshold times
(here at once, prepare=True) and sends only Bind and Execute afterwards; with
prepared_max = 1 it evicts the older statement with DEALLOCATE when it prepares
another, and prepares it again when it comes back.

Usage: python3 psycopg_prepared.py <port> <runs per round> (database: $PGDATABASE,
default postgres). Inserts into
audit_probe(id int) ids 1 and 2, each in two rounds; prints "runs: N"."""
import os
import sys

import psycopg

port, per_round = int(sys.argv[1]), int(sys.argv[2])
runs = 0
with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=os.environ.get("PGDATABASE", "postgres"), autocommit=True) as conn:
    conn.prepared_max = 1
    for _ in range(2):
        for ident in (1, 2):
            for _ in range(per_round):
                conn.execute(f"insert into audit_probe values ({ident} + %s)", (0,), prepare=True)
                runs += 1
print(f"runs: {runs}")
