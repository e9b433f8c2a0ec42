-- case: drop an existing table
-- expect: DG-L001
SET lock_timeout = '2s';
DROP TABLE users;

-- case: drop an existing table with no lock_timeout
-- expect: DG-L001 DG-L027
DROP TABLE users;

-- case: drop two existing tables with CASCADE
-- expect: DG-L001 DG-L001
SET lock_timeout = '1s';
DROP TABLE audit_2019, audit_2020 CASCADE;

-- case: drop a table created earlier in the file
-- expect: none
CREATE TABLE tmp_import (id bigint, payload text);
INSERT INTO tmp_import VALUES (1, 'x');
DROP TABLE tmp_import;

-- case: drop if exists of an existing table
-- expect: DG-L001
SET lock_timeout = '1s';
DROP TABLE IF EXISTS old_logs;

-- case: created schema-qualified as public, dropped unqualified
-- expect: none
CREATE TABLE public.scratch_rows (id int);
DROP TABLE scratch_rows;

-- case: created in another schema, dropped in public
-- expect: DG-L001
CREATE TABLE app.shadow (id int);
SET lock_timeout = '1s';
DROP TABLE shadow;

-- case: drop a column
-- expect: DG-L002
SET lock_timeout = '1s';
ALTER TABLE users DROP COLUMN legacy_flag;

-- case: drop a column if exists with no lock_timeout
-- expect: DG-L002 DG-L027
ALTER TABLE users DROP COLUMN IF EXISTS legacy_flag;

-- case: drop two columns in one statement
-- expect: DG-L002 DG-L002
SET lock_timeout = '1s';
ALTER TABLE users DROP COLUMN a, DROP COLUMN b;

-- case: drop a column of a table created in the file
-- expect: none
CREATE TABLE widgets (id bigint, colour text, size int);
ALTER TABLE widgets DROP COLUMN size;

-- case: drop schema cascade
-- expect: DG-L003
DROP SCHEMA reporting CASCADE;

-- case: drop an existing schema without cascade
-- expect: DG-L004
DROP SCHEMA reporting;

-- case: drop a schema created in the file
-- expect: none
CREATE SCHEMA scratch;
DROP SCHEMA scratch;

-- case: drop with cascade a schema created in the file
-- expect: none
CREATE SCHEMA tmp_work;
CREATE TABLE tmp_work.t (id int);
DROP SCHEMA tmp_work CASCADE;

-- case: drop a view
-- expect: DG-L004
SET lock_timeout = '1s';
DROP VIEW active_users;

-- case: drop a view with no lock_timeout
-- expect: DG-L004 DG-L027
DROP VIEW active_users;

-- case: drop a view created in the file
-- expect: none
CREATE VIEW recent_orders AS SELECT * FROM orders WHERE created_at > now() - interval '1 day';
DROP VIEW recent_orders;

-- case: drop a materialized view
-- expect: DG-L004
SET lock_timeout = '1s';
DROP MATERIALIZED VIEW daily_totals;

-- case: drop a function
-- expect: DG-L004
DROP FUNCTION calc_total(integer);

-- case: drop a function created in the file
-- expect: none
CREATE FUNCTION add_one(i int) RETURNS int LANGUAGE sql AS 'SELECT i + 1';
DROP FUNCTION add_one(int);

-- case: drop a procedure with cascade
-- expect: DG-L004
DROP PROCEDURE archive_orders CASCADE;

-- case: drop a sequence
-- expect: DG-L004
SET lock_timeout = '1s';
DROP SEQUENCE invoice_numbers;

-- case: drop a sequence created in the file
-- expect: none
CREATE SEQUENCE batch_ids;
DROP SEQUENCE batch_ids;

-- case: drop a type
-- expect: DG-L004
DROP TYPE mood;

-- case: drop an enum type created in the file
-- expect: none
CREATE TYPE traffic_light AS ENUM ('red', 'amber', 'green');
DROP TYPE traffic_light;

-- case: drop a domain
-- expect: DG-L004
DROP DOMAIN us_postal_code;

-- case: truncate
-- expect: DG-L005
SET lock_timeout = '1s';
TRUNCATE events;

-- case: truncate two tables with cascade and no lock_timeout
-- expect: DG-L005 DG-L005 DG-L027
TRUNCATE TABLE sessions, tokens RESTART IDENTITY CASCADE;

-- case: truncate a table created in the file
-- expect: none
CREATE TABLE staging_rows (id int);
TRUNCATE staging_rows;

-- case: drop database
-- expect: DG-L006
DROP DATABASE analytics;

-- case: delete with a WHERE clause is not destructive DDL
-- expect: none
DELETE FROM sessions WHERE expires_at < now();

-- case: create then drop then recreate: the second is new too
-- expect: none
CREATE TABLE cycle (id int);
DROP TABLE cycle;
CREATE TABLE cycle (id int, name text);
ALTER TABLE cycle DROP COLUMN name;

-- case: existing tables dropped after a created one
-- expect: DG-L001 DG-L001
SET lock_timeout = '1s';
CREATE TABLE gone (id int);
DROP TABLE gone;
DROP TABLE gone_too;
DROP TABLE other_gone;
