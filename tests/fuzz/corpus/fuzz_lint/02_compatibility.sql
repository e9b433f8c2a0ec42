-- case: rename a table
-- expect: DG-L010
SET lock_timeout = '1s';
ALTER TABLE users RENAME TO accounts;

-- case: rename a table with no lock_timeout
-- expect: DG-L010 DG-L027
ALTER TABLE users RENAME TO accounts;

-- case: rename a table created in the file, then alter it under its new name
-- expect: none
CREATE TABLE draft (id int);
ALTER TABLE draft RENAME TO final;
ALTER TABLE final ADD COLUMN note text;
CREATE INDEX final_note_idx ON final (note);

-- case: rename a view
-- expect: DG-L010
SET lock_timeout = '1s';
ALTER VIEW user_summary RENAME TO account_summary;

-- case: rename a sequence
-- expect: DG-L010
SET lock_timeout = '1s';
ALTER SEQUENCE order_seq RENAME TO order_number_seq;

-- case: move a table to another schema
-- expect: DG-L010
SET lock_timeout = '1s';
ALTER TABLE users SET SCHEMA archive;

-- case: rename a column
-- expect: DG-L011
SET lock_timeout = '1s';
ALTER TABLE users RENAME COLUMN email TO email_address;

-- case: rename a column with no lock_timeout
-- expect: DG-L011 DG-L027
ALTER TABLE users RENAME email TO email_address;

-- case: rename a column of a table created in the file
-- expect: none
CREATE TABLE profiles (id bigint, nick text);
ALTER TABLE profiles RENAME COLUMN nick TO nickname;

-- case: rename an index takes no blocking lock
-- expect: none
ALTER INDEX users_email_idx RENAME TO users_email_key;

-- case: rename a constraint
-- expect: none
SET lock_timeout = '1s';
ALTER TABLE users RENAME CONSTRAINT users_age_check TO users_age_positive;

-- case: rename a constraint with no lock_timeout
-- expect: DG-L027
ALTER TABLE users RENAME CONSTRAINT users_age_check TO users_age_positive;

-- case: change a column type
-- expect: DG-L012
SET lock_timeout = '1s';
ALTER TABLE users ALTER COLUMN age TYPE bigint;

-- case: change a column type with USING
-- expect: DG-L012
SET lock_timeout = '1s';
ALTER TABLE users ALTER COLUMN id TYPE bigint USING id::bigint;

-- case: change a column type to a bounded varchar
-- expect: DG-L012 DG-L013
SET lock_timeout = '1s';
ALTER TABLE users ALTER COLUMN name TYPE varchar(50);

-- case: change a column type to integer
-- expect: DG-L012 DG-L013
SET lock_timeout = '1s';
ALTER TABLE users ALTER COLUMN visits SET DATA TYPE integer;

-- case: change a column type to numeric with precision, no lock_timeout
-- expect: DG-L012 DG-L013 DG-L027
ALTER TABLE invoices ALTER COLUMN amount TYPE numeric(10, 2);

-- case: change a column type to text
-- expect: DG-L012
SET lock_timeout = '1s';
ALTER TABLE users ALTER COLUMN name TYPE text;

-- case: change a column type of a table created in the file
-- expect: none
CREATE TABLE counters (id int, n int);
ALTER TABLE counters ALTER COLUMN n TYPE bigint;

-- case: set not null
-- expect: DG-L014
SET lock_timeout = '1s';
ALTER TABLE users ALTER COLUMN email SET NOT NULL;

-- case: set not null on a table created in the file
-- expect: none
CREATE TABLE notes (id int, body text);
ALTER TABLE notes ALTER COLUMN body SET NOT NULL;

-- case: drop not null takes a short lock only
-- expect: none
SET lock_timeout = '1s';
ALTER TABLE users ALTER COLUMN nickname DROP NOT NULL;

-- case: drop a default
-- expect: DG-L015
SET lock_timeout = '1s';
ALTER TABLE users ALTER COLUMN status DROP DEFAULT;

-- case: set a default
-- expect: none
SET lock_timeout = '1s';
ALTER TABLE users ALTER COLUMN status SET DEFAULT 'active';

-- case: add a NOT NULL column without a default
-- expect: DG-L016
SET lock_timeout = '1s';
ALTER TABLE users ADD COLUMN tenant_id bigint NOT NULL;

-- case: add a NOT NULL column with a constant default
-- expect: none
SET lock_timeout = '1s';
ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true;

-- case: add a nullable column
-- expect: none
SET lock_timeout = '1s';
ALTER TABLE users ADD COLUMN bio text;

-- case: add a nullable column with no lock_timeout
-- expect: DG-L027
ALTER TABLE users ADD COLUMN bio text;

-- case: add a primary key column without default
-- expect: DG-L016
SET lock_timeout = '1s';
ALTER TABLE legacy ADD COLUMN uid bigint PRIMARY KEY;

-- case: add a NOT NULL column to a table created in the file
-- expect: none
CREATE TABLE tags (id int);
ALTER TABLE tags ADD COLUMN label text NOT NULL;

-- case: add an identity column fills every row
-- expect: DG-L023
SET lock_timeout = '1s';
ALTER TABLE events ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;

-- case: add a column with a default of now() is not a rewrite
-- expect: none
SET lock_timeout = '1s';
ALTER TABLE users ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();

-- case: add a column with a jsonb literal default
-- expect: none
SET lock_timeout = '1s';
ALTER TABLE users ADD COLUMN settings jsonb NOT NULL DEFAULT '{}'::jsonb;
