"""psycopg 3 (Debian python3-psycopg) pipeline mode in a transaction, reading a
result in the middle of the pipeline: psycopg asks for it with a Flush, not a
Sync, so the server answers the first Executes before their batch has a Sync.

Usage: python3 psycopg_pipeline_transaction.py <port> (database: $PGDATABASE, default
postgres). Prints one line per step."""
import os
import sys

import psycopg

port = int(sys.argv[1])
with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=os.environ.get("PGDATABASE", "postgres"), autocommit=False) as conn:
    with conn.pipeline():
        conn.execute("create table users (id bigint primary key, email text not null)")
        cur = conn.execute("select 42")
        print(f"mid-pipeline: {cur.fetchone()[0]}")
        conn.execute("grant select on users to reporting")
    conn.commit()
    print("committed")
