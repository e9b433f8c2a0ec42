"""psycopg 3 (Debian python3-psycopg) pipeline mode through ddlgate.

Usage: python3 psycopg_pipeline.py <port> (database: $PGDATABASE, default postgres).
Prints one line per step."""
import os
import sys

import psycopg

port = int(sys.argv[1])
with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=os.environ.get("PGDATABASE", "postgres"), autocommit=True) as conn:
    with conn.pipeline():
        conn.execute("create table users (id bigint primary key, email text not null)")
        conn.execute("grant select on users to reporting")
    print("approved: ok")
    try:
        with conn.pipeline():
            conn.execute("select 1")
            conn.execute("drop table users")
            conn.execute("select 3")
        print("unapproved: NOT REFUSED")
    except psycopg.Error as e:
        print(f"unapproved: {e.sqlstate}")
    with conn.pipeline():
        cur = conn.execute("select count(*) from users")
    print(f"after: {cur.fetchone()[0]}")
