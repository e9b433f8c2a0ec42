-- case: grant select to public
-- expect: DG-L050
GRANT SELECT ON users TO PUBLIC;

-- case: grant all on a schema to public
-- expect: DG-L050
GRANT ALL ON SCHEMA app TO public;

-- case: grant execute on a function to public
-- expect: DG-L050
GRANT EXECUTE ON FUNCTION reset_password(text) TO PUBLIC;

-- case: grant to PUBLIC among other roles
-- expect: DG-L050
GRANT USAGE, SELECT ON SEQUENCE order_seq TO app_rw, PUBLIC;

-- case: grant to a named role
-- expect: none
GRANT SELECT, INSERT ON users TO app_rw;

-- case: grant a role to a role
-- expect: none
GRANT app_rw TO alice;

-- case: revoke from public
-- expect: none
REVOKE ALL ON users FROM PUBLIC;

-- case: default privileges granted to public
-- expect: DG-L050
ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO PUBLIC;

-- case: default privileges granted to a role
-- expect: none
ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO reporting;

-- case: create a superuser role
-- expect: DG-L051
CREATE ROLE admin_bot WITH LOGIN SUPERUSER PASSWORD 'x';

-- case: create a user that bypasses row security
-- expect: DG-L051
CREATE USER etl BYPASSRLS;

-- case: alter a role to superuser
-- expect: DG-L051
ALTER ROLE deployer SUPERUSER;

-- case: alter a role to bypass row security
-- expect: DG-L051
ALTER USER reporting WITH BYPASSRLS;

-- case: superuser and bypassrls in one statement
-- expect: DG-L051
CREATE ROLE root_like SUPERUSER BYPASSRLS;

-- case: take superuser away
-- expect: none
ALTER ROLE deployer NOSUPERUSER NOBYPASSRLS;

-- case: an ordinary login role
-- expect: none
CREATE ROLE app_ro LOGIN NOINHERIT CONNECTION LIMIT 10;

-- case: security definer without search_path
-- expect: DG-L052
CREATE FUNCTION get_secret(k text) RETURNS text LANGUAGE sql SECURITY DEFINER AS $$ SELECT v FROM secrets WHERE key = k $$;

-- case: security definer with search_path
-- expect: none
CREATE FUNCTION get_secret(k text) RETURNS text LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, app AS $$ SELECT v FROM app.secrets WHERE key = k $$;

-- case: security definer with search_path from current
-- expect: none
CREATE OR REPLACE FUNCTION get_secret(k text) RETURNS text LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$ SELECT v FROM app.secrets WHERE key = k $$;

-- case: security definer setting something else
-- expect: DG-L052
CREATE FUNCTION bump() RETURNS void LANGUAGE sql SECURITY DEFINER SET work_mem = '64MB' AS $$ UPDATE counters SET n = n + 1 $$;

-- case: security invoker
-- expect: none
CREATE FUNCTION whoami() RETURNS text LANGUAGE sql SECURITY INVOKER AS $$ SELECT current_user $$;

-- case: procedure security definer
-- expect: DG-L052
CREATE PROCEDURE rotate_keys() LANGUAGE plpgsql SECURITY DEFINER AS $$ BEGIN UPDATE keys SET active = false; END $$;

-- case: plpgsql EXECUTE with concatenation
-- expect: DG-L053
CREATE FUNCTION drop_it(t text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'DROP TABLE ' || t;
END
$$;

-- case: plpgsql EXECUTE format with %I and %L
-- expect: none
CREATE FUNCTION drop_it(t text, v text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('DELETE FROM %I WHERE name = %L', t, v);
END
$$;

-- case: plpgsql EXECUTE format with %s
-- expect: DG-L053
CREATE FUNCTION drop_it(t text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('DROP TABLE %s', t);
END
$$;

-- case: plpgsql EXECUTE with USING
-- expect: none
CREATE FUNCTION count_of(v text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE 'SELECT count(*) FROM items WHERE name = $1' INTO n USING v;
  RETURN n;
END
$$;

-- case: plpgsql EXECUTE of a variable built by concatenation
-- expect: DG-L053
CREATE FUNCTION purge(t text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE sql text;
BEGIN
  sql := 'TRUNCATE ' || t;
  EXECUTE sql;
END
$$;

-- case: plpgsql EXECUTE of a variable built with quote_ident
-- expect: none
CREATE FUNCTION purge(t text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE sql text;
BEGIN
  sql := 'TRUNCATE ' || quote_ident(t);
  EXECUTE sql;
END
$$;

-- case: plpgsql EXECUTE with concat()
-- expect: DG-L053
CREATE FUNCTION peek(t text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE concat('SELECT * FROM ', t);
END
$$;

-- case: plpgsql FOR ... IN EXECUTE with concatenation inside IF
-- expect: DG-L053
CREATE FUNCTION scan(t text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  IF t <> '' THEN
    FOR r IN EXECUTE 'SELECT * FROM ' || t LOOP
      RAISE NOTICE '%', r;
    END LOOP;
  END IF;
END
$$;

-- case: plpgsql EXECUTE of a constant string
-- expect: none
CREATE FUNCTION analyze_all() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'ANALYZE';
END
$$;

-- case: security definer with dynamic concatenation
-- expect: DG-L052 DG-L053
CREATE FUNCTION admin_exec(q text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  EXECUTE 'SELECT ' || q;
END
$$;

-- case: DO block with concatenation
-- expect: DG-L053
DO $$
DECLARE t text;
BEGIN
  FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'tmp' LOOP
    EXECUTE 'DROP TABLE tmp.' || t;
  END LOOP;
END
$$;

-- case: DO block with format %I
-- expect: none
DO $$
DECLARE t text;
BEGIN
  FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'tmp' LOOP
    EXECUTE format('DROP TABLE tmp.%I', t);
  END LOOP;
END
$$;

-- case: SQL-language function concatenating text is not dynamic SQL
-- expect: none
CREATE FUNCTION greet(n text) RETURNS text LANGUAGE sql AS $$ SELECT 'hello ' || n $$;

-- case: plpgsql RETURN QUERY EXECUTE with concatenation
-- expect: DG-L053
CREATE FUNCTION rows_of(t text) RETURNS SETOF record LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY EXECUTE 'SELECT * FROM ' || t;
END
$$;

-- case: a body libpg_query cannot read that runs EXECUTE is reported
-- expect: DG-L053
CREATE FUNCTION open_for(t text) RETURNS refcursor LANGUAGE plpgsql AS $$
DECLARE c refcursor;
BEGIN
  OPEN c FOR EXECUTE 'SELECT * FROM ' || t;
  RETURN c;
END
$$;

-- case: a body libpg_query cannot read without EXECUTE is not
-- expect: none
CREATE FUNCTION open_static() RETURNS refcursor LANGUAGE plpgsql AS $$
DECLARE c refcursor;
BEGIN
  OPEN c FOR SELECT 1;
  RETURN c;
END
$$;
