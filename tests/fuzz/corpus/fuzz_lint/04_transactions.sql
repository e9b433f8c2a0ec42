-- case: create index concurrently inside BEGIN
-- expect: DG-L040
BEGIN;
CREATE INDEX CONCURRENTLY users_email_idx ON users (email);
COMMIT;

-- case: create index concurrently inside START TRANSACTION
-- expect: DG-L040
START TRANSACTION;
CREATE INDEX CONCURRENTLY users_email_idx ON users (email);
COMMIT;

-- case: drop index concurrently inside a transaction
-- expect: DG-L040
BEGIN;
DROP INDEX CONCURRENTLY users_email_idx;
COMMIT;

-- case: reindex concurrently inside a transaction
-- expect: DG-L040
BEGIN;
REINDEX INDEX CONCURRENTLY users_email_idx;
END;

-- case: detach partition concurrently inside a transaction
-- expect: DG-L040
BEGIN;
ALTER TABLE measurements DETACH PARTITION measurements_2019 CONCURRENTLY;
COMMIT;

-- case: vacuum inside a transaction
-- expect: DG-L040
BEGIN;
VACUUM users;
COMMIT;

-- case: concurrently after the transaction committed
-- expect: none
BEGIN;
CREATE TABLE queue (id bigint);
COMMIT;
CREATE INDEX CONCURRENTLY users_email_idx ON users (email);

-- case: concurrently after a rollback
-- expect: none
BEGIN;
ROLLBACK;
CREATE INDEX CONCURRENTLY users_email_idx ON users (email);

-- case: COMMIT AND CHAIN keeps a transaction open
-- expect: DG-L040
BEGIN;
COMMIT AND CHAIN;
CREATE INDEX CONCURRENTLY users_email_idx ON users (email);
COMMIT;

-- case: assume-in-transaction: concurrently is inside the tool's transaction
-- options: in-transaction
-- expect: DG-L040
CREATE INDEX CONCURRENTLY users_email_idx ON users (email);

-- case: assume-in-transaction: a new table does not make concurrently possible
-- options: in-transaction
-- expect: DG-L040
CREATE TABLE jobs (id bigint, state text);
CREATE INDEX CONCURRENTLY jobs_state_idx ON jobs (state);

-- case: without the option, concurrently on a new table is fine
-- expect: none
CREATE TABLE jobs (id bigint, state text);
CREATE INDEX CONCURRENTLY jobs_state_idx ON jobs (state);

-- case: assume-in-transaction: plain statements are fine
-- options: in-transaction
-- expect: none
SET LOCAL lock_timeout = '2s';
ALTER TABLE users ADD COLUMN nickname text;

-- case: assume-in-transaction: refresh concurrently may run in a transaction
-- options: in-transaction
-- expect: none
SET LOCAL lock_timeout = '2s';
REFRESH MATERIALIZED VIEW CONCURRENTLY daily_totals;

-- case: DDL with an UPDATE of every row
-- expect: DG-L041
SET lock_timeout = '1s';
ALTER TABLE users ADD COLUMN flag boolean;
UPDATE users SET flag = false;

-- case: DDL with a DELETE of every row
-- expect: DG-L041
CREATE TABLE archive_marker (id int);
DELETE FROM sessions;

-- case: the UPDATE before the DDL
-- expect: DG-L041
UPDATE accounts SET balance = 0;
CREATE TABLE ledger_entries (id bigint, amount numeric);

-- case: DDL with a bounded UPDATE
-- expect: none
SET lock_timeout = '1s';
ALTER TABLE users ADD COLUMN flag boolean;
UPDATE users SET flag = false WHERE id < 1000;

-- case: UPDATE of every row without DDL
-- expect: none
UPDATE users SET flag = false;

-- case: DELETE USING with a WHERE and DDL
-- expect: none
CREATE TABLE purge_list (id bigint);
DELETE FROM users USING purge_list WHERE users.id = purge_list.id;

-- case: two unbounded statements with DDL
-- expect: DG-L041 DG-L041
CREATE TABLE t_new (id int);
UPDATE users SET a = 1;
DELETE FROM events;
