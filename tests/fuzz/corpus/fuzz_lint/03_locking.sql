-- case: create an index on an existing table
-- expect: DG-L020
SET lock_timeout = '1s';
CREATE INDEX users_email_idx ON users (email);

-- case: create an index with no lock_timeout
-- expect: DG-L020 DG-L027
CREATE INDEX users_email_idx ON users (email);

-- case: create an index concurrently
-- expect: none
CREATE INDEX CONCURRENTLY users_email_idx ON users (email);

-- case: create an index concurrently if not exists, partial
-- expect: none
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_open_idx ON orders (customer_id) WHERE closed_at IS NULL;

-- case: create an index on a table created in the file
-- expect: none
CREATE TABLE shipments (id bigint, order_id bigint, shipped_at timestamptz);
CREATE INDEX shipments_order_idx ON shipments (order_id);
CREATE INDEX ON shipments (shipped_at DESC);

-- case: expression index without concurrently
-- expect: DG-L020
SET lock_timeout = '1s';
CREATE INDEX users_lower_email_idx ON users (lower(email));

-- case: unique index concurrently
-- expect: DG-L030
CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);

-- case: unique index without concurrently
-- expect: DG-L020 DG-L030
SET lock_timeout = '1s';
CREATE UNIQUE INDEX users_email_key ON users (email);

-- case: unique index on a table created in the file
-- expect: none
CREATE TABLE slugs (slug text);
CREATE UNIQUE INDEX slugs_slug_key ON slugs (slug);

-- case: foreign key without NOT VALID
-- expect: DG-L021
SET lock_timeout = '1s';
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);

-- case: foreign key NOT VALID
-- expect: none
SET lock_timeout = '1s';
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;

-- case: foreign key NOT VALID with no lock_timeout still waits for SHARE ROW EXCLUSIVE
-- expect: DG-L027
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;

-- case: foreign key NOT VALID then validate
-- expect: DG-L031
SET lock_timeout = '1s';
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;

-- case: new table referencing an existing one locks the referenced table
-- expect: DG-L027
CREATE TABLE line_items (id bigint PRIMARY KEY, order_id bigint REFERENCES orders (id));

-- case: new table referencing an existing one, lock_timeout set
-- expect: none
SET lock_timeout = '2s';
CREATE TABLE line_items (id bigint PRIMARY KEY, order_id bigint, FOREIGN KEY (order_id) REFERENCES orders (id));

-- case: new tables referencing each other
-- expect: none
CREATE TABLE authors (id bigint PRIMARY KEY);
CREATE TABLE books (id bigint PRIMARY KEY, author_id bigint NOT NULL REFERENCES authors (id));
CREATE INDEX books_author_idx ON books (author_id);

-- case: foreign key added to a new table referencing an existing one
-- expect: DG-L027
CREATE TABLE reviews (id bigint, product_id bigint);
ALTER TABLE reviews ADD FOREIGN KEY (product_id) REFERENCES products (id);

-- case: check constraint without NOT VALID
-- expect: DG-L022
SET lock_timeout = '1s';
ALTER TABLE users ADD CONSTRAINT users_age_check CHECK (age >= 0);

-- case: check constraint NOT VALID
-- expect: none
SET lock_timeout = '1s';
ALTER TABLE users ADD CONSTRAINT users_age_check CHECK (age >= 0) NOT VALID;

-- case: validate a constraint
-- expect: DG-L031
ALTER TABLE users VALIDATE CONSTRAINT users_age_check;

-- case: the safe NOT NULL sequence of PostgreSQL 12 and later
-- expect: DG-L031
SET lock_timeout = '1s';
ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;
ALTER TABLE users VALIDATE CONSTRAINT users_email_nn;
ALTER TABLE users ALTER COLUMN email SET NOT NULL;

-- case: add a column with a volatile default
-- expect: DG-L023
SET lock_timeout = '1s';
ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();

-- case: add a column defaulting to clock_timestamp()
-- expect: DG-L023
SET lock_timeout = '1s';
ALTER TABLE events ADD COLUMN seen_at timestamptz DEFAULT clock_timestamp();

-- case: add a column defaulting to random()
-- expect: DG-L023
SET lock_timeout = '1s';
ALTER TABLE samples ADD COLUMN bucket int DEFAULT (random() * 10)::int;

-- case: add a column defaulting to an unknown function
-- expect: DG-L023
SET lock_timeout = '1s';
ALTER TABLE users ADD COLUMN code text DEFAULT make_code();

-- case: add a column with a constant default
-- expect: none
SET lock_timeout = '1s';
ALTER TABLE users ADD COLUMN score int DEFAULT 0;

-- case: add a column with a default of current_timestamp
-- expect: none
SET lock_timeout = '1s';
ALTER TABLE users ADD COLUMN updated_at timestamptz DEFAULT current_timestamp;

-- case: add a bigserial column
-- expect: DG-L023
SET lock_timeout = '1s';
ALTER TABLE logs ADD COLUMN seq bigserial;

-- case: add a stored generated column
-- expect: DG-L023
SET lock_timeout = '1s';
ALTER TABLE users ADD COLUMN full_name text GENERATED ALWAYS AS (first_name || ' ' || last_name) STORED;

-- case: add a volatile-default column to a table created in the file
-- expect: none
CREATE TABLE api_keys (id int);
ALTER TABLE api_keys ADD COLUMN key uuid NOT NULL DEFAULT gen_random_uuid();

-- case: vacuum full
-- expect: DG-L024
SET lock_timeout = '1s';
VACUUM FULL users;

-- case: vacuum full with no lock_timeout
-- expect: DG-L024 DG-L027
VACUUM (FULL, ANALYZE) users;

-- case: plain vacuum and analyze
-- expect: none
VACUUM users;
VACUUM (ANALYZE) users;
ANALYZE users;

-- case: cluster
-- expect: DG-L024
SET lock_timeout = '1s';
CLUSTER users USING users_pkey;

-- case: set tablespace
-- expect: DG-L024
SET lock_timeout = '1s';
ALTER TABLE users SET TABLESPACE fast_ssd;

-- case: set unlogged
-- expect: DG-L024
SET lock_timeout = '1s';
ALTER TABLE events SET UNLOGGED;

-- case: set logged
-- expect: DG-L024
SET lock_timeout = '1s';
ALTER TABLE events SET LOGGED;

-- case: drop an index
-- expect: DG-L025
SET lock_timeout = '1s';
DROP INDEX users_email_idx;

-- case: drop an index concurrently
-- expect: none
DROP INDEX CONCURRENTLY users_email_idx;

-- case: drop an index created in the file
-- expect: none
CREATE TABLE cache_rows (k text, v text);
CREATE INDEX cache_rows_k_idx ON cache_rows (k);
DROP INDEX cache_rows_k_idx;

-- case: reindex a table
-- expect: DG-L026
SET lock_timeout = '1s';
REINDEX TABLE users;

-- case: reindex an index
-- expect: DG-L026
SET lock_timeout = '1s';
REINDEX INDEX users_email_idx;

-- case: reindex concurrently
-- expect: none
REINDEX TABLE CONCURRENTLY users;

-- case: refresh a materialized view
-- expect: DG-L028
SET lock_timeout = '1s';
REFRESH MATERIALIZED VIEW daily_totals;

-- case: refresh a materialized view concurrently
-- expect: none
SET lock_timeout = '1s';
REFRESH MATERIALIZED VIEW CONCURRENTLY daily_totals;

-- case: add a primary key
-- expect: DG-L029 DG-L030
SET lock_timeout = '1s';
ALTER TABLE legacy ADD PRIMARY KEY (id);

-- case: add a unique constraint
-- expect: DG-L029 DG-L030
SET lock_timeout = '1s';
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);

-- case: add an exclusion constraint
-- expect: DG-L029 DG-L030
SET lock_timeout = '1s';
ALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&);

-- case: unique constraint from an index built concurrently
-- expect: DG-L030
SET lock_timeout = '1s';
CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;

-- case: primary key from an existing index
-- expect: none
SET lock_timeout = '1s';
ALTER TABLE legacy ADD CONSTRAINT legacy_pkey PRIMARY KEY USING INDEX legacy_id_idx;

-- case: comment on a table needs no lock_timeout
-- expect: none
COMMENT ON TABLE users IS 'people who can log in';

-- case: comment on a column needs no lock_timeout
-- expect: none
COMMENT ON COLUMN users.email IS 'lower-cased';

-- case: create a trigger with no lock_timeout
-- expect: DG-L027
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- case: create a trigger with lock_timeout
-- expect: none
SET lock_timeout = '1s';
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- case: disable triggers
-- expect: DG-L027
ALTER TABLE users DISABLE TRIGGER ALL;

-- case: drop a trigger
-- expect: DG-L027
DROP TRIGGER users_touch ON users;

-- case: lock table explicitly
-- expect: DG-L027
LOCK TABLE users IN ACCESS EXCLUSIVE MODE;

-- case: lock table in a mode that blocks nothing
-- expect: none
LOCK TABLE users IN ROW EXCLUSIVE MODE;

-- case: lock_timeout of zero does not count
-- expect: DG-L027
SET lock_timeout = 0;
ALTER TABLE users ADD COLUMN x int;

-- case: lock_timeout of '0s' does not count
-- expect: DG-L027
SET lock_timeout TO '0s';
ALTER TABLE users ADD COLUMN x int;

-- case: SET LOCAL lock_timeout inside the transaction
-- expect: none
BEGIN;
SET LOCAL lock_timeout = '3s';
ALTER TABLE users ADD COLUMN x int;
COMMIT;

-- case: SET LOCAL ends with its transaction
-- expect: DG-L027
BEGIN;
SET LOCAL lock_timeout = '3s';
COMMIT;
ALTER TABLE users ADD COLUMN y int;

-- case: set_config lock_timeout
-- expect: none
SELECT set_config('lock_timeout', '2s', false);
ALTER TABLE users ADD COLUMN z int;

-- case: RESET lock_timeout
-- expect: DG-L027
SET lock_timeout = '2s';
RESET lock_timeout;
ALTER TABLE users ADD COLUMN z int;

-- case: SET lock_timeout TO DEFAULT
-- expect: DG-L027
SET lock_timeout = '2s';
SET lock_timeout TO DEFAULT;
ALTER TABLE users ADD COLUMN z int;

-- case: lock_timeout set after the statement
-- expect: DG-L027
ALTER TABLE users ADD COLUMN z int;
SET lock_timeout = '2s';

-- case: statement_timeout is not lock_timeout
-- expect: DG-L027
SET statement_timeout = '5s';
ALTER TABLE users ADD COLUMN z int;

-- case: set statistics and storage options take SHARE UPDATE EXCLUSIVE
-- expect: none
ALTER TABLE users ALTER COLUMN email SET STATISTICS 500;
ALTER TABLE users ALTER COLUMN email SET (n_distinct = 1000);
ALTER TABLE users SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.01);
ALTER TABLE users RESET (fillfactor);
ALTER TABLE users CLUSTER ON users_pkey;
ALTER TABLE users SET WITHOUT CLUSTER;

-- case: user_catalog_table takes ACCESS EXCLUSIVE
-- expect: DG-L027
ALTER TABLE users SET (user_catalog_table = true);

-- case: set storage takes ACCESS EXCLUSIVE
-- expect: DG-L027
ALTER TABLE users ALTER COLUMN bio SET STORAGE EXTERNAL;

-- case: enable row level security
-- expect: DG-L027
ALTER TABLE users ENABLE ROW LEVEL SECURITY;

-- case: create a policy
-- expect: DG-L027
CREATE POLICY own_rows ON documents USING (owner = current_user);

-- case: create a policy with lock_timeout
-- expect: none
SET lock_timeout = '1s';
CREATE POLICY own_rows ON documents USING (owner = current_user);

-- case: attach a partition
-- expect: DG-L027
ALTER TABLE measurements ATTACH PARTITION measurements_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');

-- case: attach a partition created in the file
-- expect: none
CREATE TABLE measurements_2027 (LIKE measurements INCLUDING DEFAULTS);
ALTER TABLE measurements ATTACH PARTITION measurements_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');

-- case: detach a partition
-- expect: DG-L027
ALTER TABLE measurements DETACH PARTITION measurements_2019;

-- case: detach a partition concurrently
-- expect: none
ALTER TABLE measurements DETACH PARTITION measurements_2019 CONCURRENTLY;

-- case: create a partition of an existing parent
-- expect: DG-L027
CREATE TABLE measurements_2028 PARTITION OF measurements FOR VALUES FROM ('2028-01-01') TO ('2029-01-01');

-- case: create a partition of a parent created in the file
-- expect: none
CREATE TABLE metrics (at timestamptz NOT NULL, v double precision) PARTITION BY RANGE (at);
CREATE TABLE metrics_2026 PARTITION OF metrics FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');

-- case: replica identity
-- expect: none
SET lock_timeout = '1s';
ALTER TABLE users REPLICA IDENTITY FULL;

-- case: change owner
-- expect: DG-L027
ALTER TABLE users OWNER TO app_owner;

-- case: create table and view are additive
-- expect: none
CREATE TABLE IF NOT EXISTS settings (key text PRIMARY KEY, value jsonb);
CREATE VIEW settings_keys AS SELECT key FROM settings;
CREATE SEQUENCE IF NOT EXISTS settings_seq;
CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- case: insert into an existing table
-- expect: none
INSERT INTO settings (key, value) VALUES ('theme', '"dark"');

-- case: a NOT VALID check that was never validated does not help SET NOT NULL
-- expect: DG-L014
SET lock_timeout = '1s';
ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;
ALTER TABLE users ALTER COLUMN email SET NOT NULL;

-- case: a check on another column does not help SET NOT NULL
-- expect: DG-L014 DG-L031
SET lock_timeout = '1s';
ALTER TABLE users ADD CONSTRAINT users_name_nn CHECK (name IS NOT NULL) NOT VALID;
ALTER TABLE users VALIDATE CONSTRAINT users_name_nn;
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
