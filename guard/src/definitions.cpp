// The guard's SQL. Trigger functions run as the session's role (SECURITY INVOKER, no
// SET clause: current_user and search_path must be the session's, issue 25), so every
// name and operator in them is schema-qualified; they hand the session's facts to
// SECURITY DEFINER functions owned by ddlgate_guard with a fixed search_path.
#include "ddlgate/guard/definitions.h"

#include <string>

namespace ddlgate::guard {
namespace {

constexpr const char* kDefinerPath = "search_path=pg_catalog, pg_temp";

FunctionDef fn(std::string name, std::string args, std::string identity, std::string returns, std::string language,
               bool definer, std::string volatility, std::vector<std::string> execute_to, std::string body) {
  FunctionDef f;
  f.name = std::move(name);
  f.arguments = std::move(args);
  f.identity_args = std::move(identity);
  f.returns = std::move(returns);
  f.language = std::move(language);
  f.security_definer = definer;
  f.volatility = std::move(volatility);
  f.execute_to = std::move(execute_to);
  f.body = std::move(body);
  return f;
}

std::vector<FunctionDef> make_functions() {
  std::vector<FunctionDef> out;
  // sha256 of the bytes the server received for the top-level statement (current_query()
  // is the whole Query message, or the Parse text), in the database's encoding.
  out.push_back(fn("statement_sha256", "", "", "pg_catalog.text", "sql", false, "STABLE", {}, R"SQL(
SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
  COALESCE(pg_catalog.current_query(), ''), pg_catalog.getdatabaseencoding())), 'hex')
)SQL"));
  // The text a person reads: passwords (role and user-mapping statements, also inside a
  // DO block) replaced by '***' before the text is cut to 8192 characters.
  out.push_back(fn("display_text", "", "", "pg_catalog.text", "sql", false, "STABLE", {}, R"SQL(
SELECT pg_catalog."left"(
  pg_catalog.regexp_replace(
    pg_catalog.regexp_replace(
      pg_catalog.regexp_replace(COALESCE(pg_catalog.current_query(), ''),
        '("?password"?\s*)(E''(?:[^''\\]|''''|\\.)*''|''(?:[^'']|'''')*'')', '\1''***''', 'gi'),
      '("?password"?\s*)\$\$(?:[^$]|\$[^$])*\$\$', '\1''***''', 'gi'),
    '("?password"?\s*)\$[A-Za-z_][A-Za-z_0-9]*\$[^$]*\$[A-Za-z_0-9]*\$', '\1''***''', 'gi'),
  8192)
)SQL"));
  // When this backend started (pg_read_all_stats lets ddlgate_guard read it whatever the
  // session's role is).
  out.push_back(fn("own_backend_start", "", "", "pg_catalog.timestamptz", "sql", false, "STABLE", {}, R"SQL(
SELECT a.backend_start FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid()) AS a
)SQL"));
  // A search_path value normalised (issue 25: compared as a list, not as text): split the
  // way PostgreSQL's SplitIdentifierString does (whitespace around elements ignored; an
  // element is a "quoted" name with "" for a quote, or an unquoted one downcased in ASCII;
  // names cut to 63 bytes), each element then written by quote_ident, joined by ', '.
  // sql::normalize_search_path is its twin in ddlgate (tests compare them). It never raises
  // (it runs in every DDL's trigger): a value it cannot split (the server has checked a
  // session's already) comes back as '!' and the value, which no confirmation names; a
  // zero-length quoted name, which the server accepts and bundles cannot record, as "".
  out.push_back(fn("normalize_search_path", "p_path pg_catalog.text", "p_path text", "pg_catalog.text", "plpgsql",
                   false, "IMMUTABLE", {}, R"SQL(
DECLARE
  v_out pg_catalog.text[] := '{}';
  v_i pg_catalog.int4 := 1;
  v_n pg_catalog.int4;
  v_c pg_catalog.text;
  v_name pg_catalog.text;
BEGIN
  IF p_path IS NULL THEN
    RETURN NULL;
  END IF;
  v_n := pg_catalog.length(p_path);
  WHILE v_i OPERATOR(pg_catalog.<=) v_n AND pg_catalog.substr(p_path, v_i, 1) OPERATOR(pg_catalog.=) ANY (ARRAY[' ', E'\t', E'\n', E'\r', E'\f']) LOOP
    v_i := v_i OPERATOR(pg_catalog.+) 1;
  END LOOP;
  IF v_i OPERATOR(pg_catalog.>) v_n THEN
    RETURN '';
  END IF;
  LOOP
    v_c := pg_catalog.substr(p_path, v_i, 1);
    v_name := '';
    IF v_c OPERATOR(pg_catalog.=) '"' THEN
      v_i := v_i OPERATOR(pg_catalog.+) 1;
      LOOP
        IF v_i OPERATOR(pg_catalog.>) v_n THEN
          RETURN '!' OPERATOR(pg_catalog.||) p_path;
        END IF;
        v_c := pg_catalog.substr(p_path, v_i, 1);
        IF v_c OPERATOR(pg_catalog.=) '"' THEN
          IF pg_catalog.substr(p_path, v_i OPERATOR(pg_catalog.+) 1, 1) OPERATOR(pg_catalog.=) '"' THEN
            v_name := v_name OPERATOR(pg_catalog.||) '"';
            v_i := v_i OPERATOR(pg_catalog.+) 2;
          ELSE
            v_i := v_i OPERATOR(pg_catalog.+) 1;
            EXIT;
          END IF;
        ELSE
          v_name := v_name OPERATOR(pg_catalog.||) v_c;
          v_i := v_i OPERATOR(pg_catalog.+) 1;
        END IF;
      END LOOP;
    ELSE
      WHILE v_i OPERATOR(pg_catalog.<=) v_n LOOP
        v_c := pg_catalog.substr(p_path, v_i, 1);
        EXIT WHEN v_c OPERATOR(pg_catalog.=) ANY (ARRAY[',', ' ', E'\t', E'\n', E'\r', E'\f']);
        v_name := v_name OPERATOR(pg_catalog.||) v_c;
        v_i := v_i OPERATOR(pg_catalog.+) 1;
      END LOOP;
      IF v_name OPERATOR(pg_catalog.=) '' THEN
        RETURN '!' OPERATOR(pg_catalog.||) p_path;
      END IF;
      v_name := pg_catalog.translate(v_name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
    END IF;
    WHILE pg_catalog.octet_length(v_name) OPERATOR(pg_catalog.>) 63 LOOP
      v_name := pg_catalog."left"(v_name, -1);
    END LOOP;
    v_out := v_out OPERATOR(pg_catalog.||) pg_catalog.quote_ident(v_name);
    WHILE v_i OPERATOR(pg_catalog.<=) v_n AND pg_catalog.substr(p_path, v_i, 1) OPERATOR(pg_catalog.=) ANY (ARRAY[' ', E'\t', E'\n', E'\r', E'\f']) LOOP
      v_i := v_i OPERATOR(pg_catalog.+) 1;
    END LOOP;
    IF v_i OPERATOR(pg_catalog.>) v_n THEN
      EXIT;
    END IF;
    IF pg_catalog.substr(p_path, v_i, 1) OPERATOR(pg_catalog.<>) ',' THEN
      RETURN '!' OPERATOR(pg_catalog.||) p_path;
    END IF;
    v_i := v_i OPERATOR(pg_catalog.+) 1;
    WHILE v_i OPERATOR(pg_catalog.<=) v_n AND pg_catalog.substr(p_path, v_i, 1) OPERATOR(pg_catalog.=) ANY (ARRAY[' ', E'\t', E'\n', E'\r', E'\f']) LOOP
      v_i := v_i OPERATOR(pg_catalog.+) 1;
    END LOOP;
  END LOOP;
  RETURN pg_catalog.array_to_string(v_out, ', ');
END
)SQL"));
  // The advisory-lock key of one confirmation: the first 64 bits of a SHA-256 over the
  // backend, the text's hash, one command tag, the role and the search_path ('*': not checked).
  out.push_back(fn("confirmation_key",
                   "p_pid pg_catalog.int4, p_start_us pg_catalog.int8, p_sha pg_catalog.text, p_tag pg_catalog.text, "
                   "p_role pg_catalog.text, p_search_path pg_catalog.text",
                   "p_pid integer, p_start_us bigint, p_sha text, p_tag text, p_role text, p_search_path text",
                   "pg_catalog.int8", "sql", false, "IMMUTABLE", {}, R"SQL(
SELECT ('x' OPERATOR(pg_catalog.||) pg_catalog.substr(pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
  pg_catalog.concat_ws(E'\n', 'ddlgate-confirm-v1', p_pid, p_start_us, p_sha, p_tag, p_role, p_search_path),
  'UTF8')), 'hex'), 1, 16))::pg_catalog.bit(64)::pg_catalog.int8
)SQL"));
  // The first int4 of the advisory-lock pair that carries a confirmation's lock_timeout
  // (issue 28 item 3): the second int4 is the timeout in milliseconds, so that the guard reads
  // the value from pg_locks (live) rather than from a table its snapshot may predate.
  out.push_back(fn("lock_timeout_key", "p_pid pg_catalog.int4, p_start_us pg_catalog.int8, p_sha pg_catalog.text",
                   "p_pid integer, p_start_us bigint, p_sha text", "pg_catalog.int4", "sql", false, "IMMUTABLE", {},
                   R"SQL(
SELECT ('x' OPERATOR(pg_catalog.||) pg_catalog.substr(pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
  pg_catalog.concat_ws(E'\n', 'ddlgate-lock-timeout-v1', p_pid, p_start_us, p_sha),
  'UTF8')), 'hex'), 1, 8))::pg_catalog.bit(32)::pg_catalog.int4
)SQL"));
  // Whether backend p_pid holds the session advisory lock p_key in this database now
  // (pg_locks is read live, whatever the caller's snapshot: no commit is needed).
  out.push_back(fn("lock_held", "p_pid pg_catalog.int4, p_key pg_catalog.int8", "p_pid integer, p_key bigint",
                   "pg_catalog.bool", "sql", false, "VOLATILE", {}, R"SQL(
SELECT EXISTS (
  SELECT 1 FROM pg_catalog.pg_locks AS l
   WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory'
     AND l.pid OPERATOR(pg_catalog.=) p_pid
     AND l.granted
     AND l.objsubid OPERATOR(pg_catalog.=) 1
     AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database AS d
                                              WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
     AND l.classid::pg_catalog.int8 OPERATOR(pg_catalog.=) ((p_key OPERATOR(pg_catalog.>>) 32) OPERATOR(pg_catalog.&) 4294967295)
     AND l.objid::pg_catalog.int8 OPERATOR(pg_catalog.=) (p_key OPERATOR(pg_catalog.&) 4294967295))
)SQL"));
  // Whether ddlgate's control connection confirmed the running statement for this backend,
  // under this tag (or a DO, CALL or CREATE EXTENSION around it), role and search_path: a
  // backend whose login role is a member of ddlgate_control holds the confirmation's key.
  // Nothing here reads a table: pg_locks and (after pg_stat_clear_snapshot) the backends'
  // status are read live, so a REPEATABLE READ snapshot older than the confirmation sees it.
  out.push_back(fn("is_confirmed", "p_tag pg_catalog.text, p_role pg_catalog.text, p_search_path pg_catalog.text",
                   "p_tag text, p_role text, p_search_path text", "pg_catalog.bool", "plpgsql", true, "VOLATILE", {},
                   R"SQL(
DECLARE
  v_start pg_catalog.int8;
  v_sha pg_catalog.text;
  v_keys pg_catalog.int8[] := '{}';
  v_key pg_catalog.int8;
  v_held pg_catalog.bool := false;
  v_tag pg_catalog.text;
  v_path pg_catalog.text;
BEGIN
  v_start := (EXTRACT(EPOCH FROM ddlgate.own_backend_start()) * 1000000)::pg_catalog.int8;
  v_sha := ddlgate.statement_sha256();
  FOREACH v_path IN ARRAY ARRAY[COALESCE(ddlgate.normalize_search_path(p_search_path), ''), '*'] LOOP
    v_keys := v_keys || ddlgate.confirmation_key(pg_catalog.pg_backend_pid(), v_start, v_sha, p_tag, p_role, v_path);
  END LOOP;
  FOREACH v_tag IN ARRAY ARRAY['DO', 'CALL', 'CREATE EXTENSION'] LOOP
    v_keys := v_keys || ddlgate.confirmation_key(pg_catalog.pg_backend_pid(), v_start, v_sha, v_tag, '*', '*');
  END LOOP;
  -- pg_locks copies the whole lock table, which a long migration transaction fills: read it
  -- only when another backend holds one of the keys (an exclusive try-lock fails), so that an
  -- unconfirmed command costs a few lock calls, not a scan.
  FOREACH v_key IN ARRAY v_keys LOOP
    IF pg_catalog.pg_try_advisory_lock(v_key) THEN
      PERFORM pg_catalog.pg_advisory_unlock(v_key);
    ELSE
      v_held := true;
    END IF;
  END LOOP;
  IF NOT v_held THEN
    RETURN false;
  END IF;
  PERFORM pg_catalog.pg_stat_clear_snapshot();
  RETURN EXISTS (
    SELECT 1
      FROM pg_catalog.unnest(v_keys) AS k(key)
      JOIN pg_catalog.pg_locks AS l
        ON l.classid::pg_catalog.int8 = ((k.key >> 32) & 4294967295)
       AND l.objid::pg_catalog.int8 = (k.key & 4294967295)
      JOIN LATERAL pg_catalog.pg_stat_get_activity(l.pid) AS a ON true
     WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
       AND l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = pg_catalog.current_database())
       AND l.pid <> pg_catalog.pg_backend_pid()
       AND pg_catalog.pg_has_role(a.usesysid, 'ddlgate_control', 'MEMBER'));
END
)SQL"));
  // One row of ddlgate.changes about the running statement.
  out.push_back(fn("note",
                   "p_event pg_catalog.text, p_role pg_catalog.text, p_search_path pg_catalog.text, "
                   "p_tag pg_catalog.text, p_object_type pg_catalog.text, p_identity pg_catalog.text, "
                   "p_schema pg_catalog.text, p_in_extension pg_catalog.bool, p_detail pg_catalog.text",
                   "p_event text, p_role text, p_search_path text, p_tag text, p_object_type text, p_identity text, "
                   "p_schema text, p_in_extension boolean, p_detail text",
                   "void", "plpgsql", true, "VOLATILE", {}, R"SQL(
BEGIN
  INSERT INTO ddlgate.changes (event, role_name, session_role, backend_pid, backend_start, search_path,
                               statement_sha256, display_text, command_tag, object_type, object_identity,
                               schema_name, in_extension, detail)
  VALUES (p_event, p_role, SESSION_USER, pg_catalog.pg_backend_pid(), ddlgate.own_backend_start(), p_search_path,
          ddlgate.statement_sha256(), ddlgate.display_text(), p_tag, p_object_type, p_identity, p_schema,
          p_in_extension, p_detail);
END
)SQL"));
  // ddl_command_start: in enforce mode, refuse what was not confirmed, before anything is built.
  // In either mode, a confirmed statement's lock_timeout (milliseconds), when ddlgate sent one
  // with its confirmation (issue 28 item 3: a statement that blocks reads or writes of an
  // existing table); NULL otherwise. The trigger function sets it in the session.
  out.push_back(fn("check_start", "p_tag pg_catalog.text, p_role pg_catalog.text, p_search_path pg_catalog.text",
                   "p_tag text, p_role text, p_search_path text", "pg_catalog.int4", "plpgsql", true, "VOLATILE",
                   {"PUBLIC"}, R"SQL(
DECLARE
  v_mode pg_catalog.text;
  v_refusal pg_catalog.int8;
  v_ms pg_catalog.int8;
  v_key pg_catalog.int8;
  v_start pg_catalog.int8;
  v_sha pg_catalog.text;
BEGIN
  SELECT g.mode INTO v_mode FROM ddlgate.guard_version AS g;
  IF v_mode IS NOT DISTINCT FROM 'enforce' AND NOT ddlgate.is_confirmed(p_tag, p_role, p_search_path) THEN
    -- A sequence is not rolled back: the refusal leaves a count behind, and the server log its message.
    v_refusal := pg_catalog.nextval('ddlgate.refusals');
    RAISE EXCEPTION USING
      ERRCODE = 'DG001',
      MESSAGE = pg_catalog.format('ddlgate guard refused %s: ddlgate did not confirm this statement for this session',
                                  p_tag),
      DETAIL = pg_catalog.format('refusal %s; backend %s; role %s; search_path %s; statement sha256:%s',
                                 v_refusal, pg_catalog.pg_backend_pid(), p_role, p_search_path,
                                 ddlgate.statement_sha256()),
      HINT = 'Schema changes go through ddlgate with an approved bundle (docs/guard.md).';
  END IF;
  -- The lock_timeout ddlgate sent with the confirmation (issue 28 item 3). One already set is
  -- kept (the trigger function would not set another): nothing to read.
  IF pg_catalog.current_setting('lock_timeout') <> '0' THEN
    RETURN NULL;
  END IF;
  v_start := (EXTRACT(EPOCH FROM ddlgate.own_backend_start()) * 1000000)::pg_catalog.int8;
  v_sha := ddlgate.statement_sha256();
  -- Whether ddlgate sent one at all: a try-lock on the marker key confirm holds shared, so that
  -- pg_locks is read (and, in detect mode, the confirmation checked) only when it did.
  v_key := ddlgate.confirmation_key(pg_catalog.pg_backend_pid(), v_start, v_sha, 'ddlgate:lock_timeout', '*', '*');
  IF pg_catalog.pg_try_advisory_lock(v_key) THEN
    PERFORM pg_catalog.pg_advisory_unlock(v_key);
    RETURN NULL;
  END IF;
  -- Only for a confirmed command (in enforce mode, checked above).
  IF v_mode IS DISTINCT FROM 'enforce' AND NOT ddlgate.is_confirmed(p_tag, p_role, p_search_path) THEN
    RETURN NULL;
  END IF;
  -- is_confirmed has read the backends' status afresh (pg_stat_clear_snapshot).
  v_key := ddlgate.lock_timeout_key(pg_catalog.pg_backend_pid(), v_start, v_sha)::pg_catalog.int8 & 4294967295;
  SELECT min(l.objid::pg_catalog.int8) INTO v_ms
    FROM pg_catalog.pg_locks AS l
    JOIN LATERAL pg_catalog.pg_stat_get_activity(l.pid) AS a ON true
   WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted
     AND l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = pg_catalog.current_database())
     AND l.classid::pg_catalog.int8 = v_key
     AND l.pid <> pg_catalog.pg_backend_pid()
     AND pg_catalog.pg_has_role(a.usesysid, 'ddlgate_control', 'MEMBER');
  IF v_ms BETWEEN 1 AND 3600000 THEN
    RETURN v_ms::pg_catalog.int4;
  END IF;
  RETURN NULL;
END
)SQL"));
  // ddl_command_end: record each command of an unconfirmed statement with its object.
  out.push_back(fn("record_end", "p_tag pg_catalog.text, p_role pg_catalog.text, p_search_path pg_catalog.text",
                   "p_tag text, p_role text, p_search_path text", "void", "plpgsql", true, "VOLATILE", {"PUBLIC"},
                   R"SQL(
DECLARE
  r record;
  v_rows pg_catalog.int4 := 0;
BEGIN
  IF ddlgate.is_confirmed(p_tag, p_role, p_search_path) THEN
    RETURN;
  END IF;
  FOR r IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands() LOOP
    PERFORM ddlgate.note('ddl_command_end', p_role, p_search_path, r.command_tag, r.object_type,
                         r.object_identity, r.schema_name, r.in_extension, NULL);
    v_rows := v_rows + 1;
  END LOOP;
  IF v_rows = 0 THEN
    PERFORM ddlgate.note('ddl_command_end', p_role, p_search_path, p_tag, NULL, NULL, NULL, NULL, NULL);
  END IF;
END
)SQL"));
  // sql_drop: record each object an unconfirmed statement dropped.
  out.push_back(fn("record_drop", "p_tag pg_catalog.text, p_role pg_catalog.text, p_search_path pg_catalog.text",
                   "p_tag text, p_role text, p_search_path text", "void", "plpgsql", true, "VOLATILE", {"PUBLIC"},
                   R"SQL(
DECLARE
  r record;
BEGIN
  IF ddlgate.is_confirmed(p_tag, p_role, p_search_path) THEN
    RETURN;
  END IF;
  FOR r IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects() LOOP
    PERFORM ddlgate.note('sql_drop', p_role, p_search_path, p_tag, r.object_type, r.object_identity, r.schema_name,
                         NULL, CASE WHEN r.original THEN 'original' WHEN r.normal THEN 'normal' ELSE 'dependent' END);
  END LOOP;
END
)SQL"));
  // table_rewrite: record the table an unconfirmed statement rewrites, and why.
  out.push_back(fn("record_rewrite", "p_tag pg_catalog.text, p_role pg_catalog.text, p_search_path pg_catalog.text",
                   "p_tag text, p_role text, p_search_path text", "void", "plpgsql", true, "VOLATILE", {"PUBLIC"},
                   R"SQL(
DECLARE
  v_oid pg_catalog.oid;
BEGIN
  IF ddlgate.is_confirmed(p_tag, p_role, p_search_path) THEN
    RETURN;
  END IF;
  v_oid := pg_catalog.pg_event_trigger_table_rewrite_oid();
  PERFORM ddlgate.note('table_rewrite', p_role, p_search_path, p_tag, 'table',
                       (SELECT i.identity FROM pg_catalog.pg_identify_object('pg_catalog.pg_class'::pg_catalog.regclass, v_oid, 0) AS i),
                       NULL, NULL, 'reason ' || pg_catalog.pg_event_trigger_table_rewrite_reason());
END
)SQL"));
  // The control connection registers itself: a random key it holds as a session advisory
  // lock for as long as it lives, which is what the guard checks.
  out.push_back(fn("register_control", "", "", "pg_catalog.int8", "plpgsql", true, "VOLATILE", {std::string(kControlRole)},
                   R"SQL(
DECLARE
  v_key pg_catalog.int8;
BEGIN
  DELETE FROM ddlgate.control_sessions AS c
   WHERE c.pid = pg_catalog.pg_backend_pid() OR NOT ddlgate.lock_held(c.pid, c.lock_key);
  v_key := ('x' || pg_catalog.substr(pg_catalog.replace(pg_catalog.gen_random_uuid()::pg_catalog.text, '-', ''), 1, 16))
             ::pg_catalog.bit(64)::pg_catalog.int8;
  IF NOT pg_catalog.pg_try_advisory_lock_shared(v_key) THEN
    RAISE EXCEPTION USING ERRCODE = 'DG002', MESSAGE = 'ddlgate guard: the control key is taken; register again';
  END IF;
  INSERT INTO ddlgate.control_sessions (pid, backend_start, lock_key, role_name)
  VALUES (pg_catalog.pg_backend_pid(), ddlgate.own_backend_start(), v_key, SESSION_USER);
  RETURN v_key;
END
)SQL"));
  // The control connection confirms one statement for one backend until it releases it
  // (or its session ends). Returns the confirmation's id.
  out.push_back(fn("confirm",
                   "p_backend_pid pg_catalog.int4, p_backend_start pg_catalog.timestamptz, "
                   "p_statement_sha256 pg_catalog.text, p_command_tags pg_catalog.text[], p_role pg_catalog.text, "
                   "p_search_path pg_catalog.text, p_ttl pg_catalog.interval, p_lock_timeout_ms pg_catalog.int4 DEFAULT NULL",
                   "p_backend_pid integer, p_backend_start timestamp with time zone, p_statement_sha256 text, "
                   "p_command_tags text[], p_role text, p_search_path text, p_ttl interval, p_lock_timeout_ms integer",
                   "pg_catalog.int8", "plpgsql", true, "VOLATILE", {std::string(kControlRole)}, R"SQL(
DECLARE
  v_keys pg_catalog.int8[] := '{}';
  v_key pg_catalog.int8;
  v_tag pg_catalog.text;
  v_start pg_catalog.int8;
  v_id pg_catalog.int8;
  v_lt_key pg_catalog.int4;
  v_taken pg_catalog.bool := false;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ddlgate.control_sessions AS c
                  WHERE c.pid = pg_catalog.pg_backend_pid() AND ddlgate.lock_held(c.pid, c.lock_key)) THEN
    RAISE EXCEPTION USING ERRCODE = 'DG002',
      MESSAGE = 'ddlgate guard: only the registered control connection can confirm a statement';
  END IF;
  IF p_statement_sha256 IS NULL OR p_statement_sha256 !~ '^[0-9a-f]{64}$' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'ddlgate guard: the statement hash is not 64 lowercase hex digits';
  END IF;
  IF p_command_tags IS NULL OR pg_catalog.cardinality(p_command_tags) NOT BETWEEN 1 AND 1000
     OR array_position(p_command_tags, NULL) IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'ddlgate guard: between 1 and 1000 command tags, none null';
  END IF;
  IF p_role IS NULL OR p_backend_pid IS NULL OR p_backend_start IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'ddlgate guard: backend, backend_start and role are required';
  END IF;
  IF p_ttl IS NULL OR p_ttl <= '0'::pg_catalog.interval OR p_ttl > '1 hour'::pg_catalog.interval THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'ddlgate guard: a confirmation lasts more than 0 and at most 1 hour';
  END IF;
  IF p_lock_timeout_ms IS NOT NULL AND p_lock_timeout_ms NOT BETWEEN 1 AND 3600000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'ddlgate guard: a lock_timeout is between 1 ms and 1 hour';
  END IF;
  v_start := (EXTRACT(EPOCH FROM p_backend_start) * 1000000)::pg_catalog.int8;
  FOREACH v_tag IN ARRAY p_command_tags LOOP
    -- Commands nested in a DO, CALL or CREATE EXTENSION run under whatever role and search_path
    -- the block, a SECURITY DEFINER procedure or a trusted extension's script has: those three
    -- are confirmed for any role and search_path.
    IF v_tag IN ('DO', 'CALL', 'CREATE EXTENSION') THEN
      v_key := ddlgate.confirmation_key(p_backend_pid, v_start, p_statement_sha256, v_tag, '*', '*');
    ELSE
      v_key := ddlgate.confirmation_key(p_backend_pid, v_start, p_statement_sha256, v_tag, p_role,
                                        COALESCE(ddlgate.normalize_search_path(p_search_path), '*'));
    END IF;
    IF NOT pg_catalog.pg_try_advisory_lock_shared(v_key) THEN
      FOREACH v_key IN ARRAY v_keys LOOP
        PERFORM pg_catalog.pg_advisory_unlock_shared(v_key);
      END LOOP;
      RAISE EXCEPTION USING ERRCODE = 'DG002',
        MESSAGE = 'ddlgate guard: another backend holds this confirmation''s key; not confirmed';
    END IF;
    v_keys := v_keys || v_key;
  END LOOP;
  -- The lock_timeout the guard sets for this text on this backend (issue 28 item 3): a
  -- shared lock on (key, milliseconds), read live from pg_locks by check_start, and a marker
  -- key (released with the others) that tells check_start there is one to read.
  IF p_lock_timeout_ms IS NOT NULL THEN
    v_key := ddlgate.confirmation_key(p_backend_pid, v_start, p_statement_sha256, 'ddlgate:lock_timeout', '*', '*');
    v_lt_key := ddlgate.lock_timeout_key(p_backend_pid, v_start, p_statement_sha256);
    IF pg_catalog.pg_try_advisory_lock_shared(v_key) THEN
      v_keys := v_keys || v_key;
      IF pg_catalog.pg_try_advisory_lock_shared(v_lt_key, p_lock_timeout_ms) THEN
        v_taken := true;
      END IF;
    END IF;
    IF NOT v_taken THEN
      FOREACH v_key IN ARRAY v_keys LOOP
        PERFORM pg_catalog.pg_advisory_unlock_shared(v_key);
      END LOOP;
      RAISE EXCEPTION USING ERRCODE = 'DG002',
        MESSAGE = 'ddlgate guard: another backend holds this confirmation''s lock_timeout key; not confirmed';
    END IF;
  END IF;
  INSERT INTO ddlgate.confirmations (control_pid, backend_pid, backend_start, statement_sha256, command_tags,
                                     role_name, search_path, lock_keys, expires_at, lock_timeout_ms, lock_timeout_key)
  VALUES (pg_catalog.pg_backend_pid(), p_backend_pid, p_backend_start, p_statement_sha256, p_command_tags,
          p_role, p_search_path, v_keys, pg_catalog.clock_timestamp() + p_ttl, p_lock_timeout_ms, v_lt_key)
  RETURNING id INTO v_id;
  RETURN v_id;
END
)SQL"));
  // The control connection ends one confirmation (at ReadyForQuery, Close or DEALLOCATE).
  out.push_back(fn("release", "p_id pg_catalog.int8", "p_id bigint", "pg_catalog.bool", "plpgsql", true, "VOLATILE",
                   {std::string(kControlRole)}, R"SQL(
DECLARE
  v_keys pg_catalog.int8[];
  v_key pg_catalog.int8;
  v_lt_key pg_catalog.int4;
  v_lt_ms pg_catalog.int4;
BEGIN
  UPDATE ddlgate.confirmations AS c SET released_at = pg_catalog.clock_timestamp()
   WHERE c.id = p_id AND c.control_pid = pg_catalog.pg_backend_pid() AND c.released_at IS NULL
  RETURNING c.lock_keys, c.lock_timeout_key, c.lock_timeout_ms INTO v_keys, v_lt_key, v_lt_ms;
  IF v_keys IS NULL THEN
    RETURN false;
  END IF;
  FOREACH v_key IN ARRAY v_keys LOOP
    PERFORM pg_catalog.pg_advisory_unlock_shared(v_key);
  END LOOP;
  IF v_lt_key IS NOT NULL THEN
    PERFORM pg_catalog.pg_advisory_unlock_shared(v_lt_key, v_lt_ms);
  END IF;
  RETURN true;
END
)SQL"));
  // The control connection ends every confirmation of its own whose time is up.
  out.push_back(fn("release_expired", "", "", "pg_catalog.int4", "plpgsql", true, "VOLATILE",
                   {std::string(kControlRole)}, R"SQL(
DECLARE
  v_id pg_catalog.int8;
  v_count pg_catalog.int4 := 0;
BEGIN
  FOR v_id IN SELECT c.id FROM ddlgate.confirmations AS c
               WHERE c.control_pid = pg_catalog.pg_backend_pid() AND c.released_at IS NULL
                 AND c.expires_at <= pg_catalog.clock_timestamp() LOOP
    IF ddlgate.release(v_id) THEN
      v_count := v_count + 1;
    END IF;
  END LOOP;
  RETURN v_count;
END
)SQL"));
  // The kill switch: enforce becomes detect, with the reason, in ddlgate.changes.
  out.push_back(fn("kill_switch", "p_reason pg_catalog.text", "p_reason text", "void", "plpgsql", true, "VOLATILE",
                   {std::string(kControlRole)}, R"SQL(
DECLARE
  v_old pg_catalog.text;
BEGIN
  IF p_reason IS NULL OR pg_catalog.btrim(p_reason) = '' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'ddlgate guard: the kill switch needs a reason';
  END IF;
  SELECT g.mode INTO v_old FROM ddlgate.guard_version AS g FOR UPDATE;
  UPDATE ddlgate.guard_version SET mode = 'detect', updated_at = pg_catalog.clock_timestamp();
  INSERT INTO ddlgate.changes (event, role_name, session_role, backend_pid, backend_start, detail)
  VALUES ('kill_switch', SESSION_USER, SESSION_USER, pg_catalog.pg_backend_pid(), ddlgate.own_backend_start(),
          pg_catalog.format('mode %s -> detect: %s', v_old, pg_catalog."left"(p_reason, 1000)));
END
)SQL"));
  // The event trigger functions: the session's own current_user and search_path.
  auto trigger_fn = [](std::string name, std::string callee) {
    return fn(std::move(name), "", "", "pg_catalog.event_trigger", "plpgsql", false, "VOLATILE", {"PUBLIC"},
              "\nBEGIN\n  PERFORM ddlgate." + callee +
                  "(TG_TAG::pg_catalog.text, CURRENT_USER::pg_catalog.text, "
                  "pg_catalog.current_setting('search_path'));\nEND\n");
  };
  // ddl_command_start also sets the lock_timeout ddlgate confirmed the statement with, unless
  // the transaction has one ('0': none; one the migration or its role set is kept). Set here,
  // in the session's own function without a SET clause, so that it lasts to the transaction's
  // end (set_config's is_local); a SET clause would undo it on return.
  out.push_back(fn("on_ddl_command_start", "", "", "pg_catalog.event_trigger", "plpgsql", false, "VOLATILE", {"PUBLIC"},
                   "\nDECLARE\n  v_ms pg_catalog.int4;\nBEGIN\n"
                   "  SELECT ddlgate.check_start(TG_TAG::pg_catalog.text, CURRENT_USER::pg_catalog.text, "
                   "pg_catalog.current_setting('search_path')) INTO v_ms;\n"
                   "  IF v_ms IS NOT NULL AND pg_catalog.texteq(pg_catalog.current_setting('lock_timeout'), '0') THEN\n"
                   "    PERFORM pg_catalog.set_config('lock_timeout', pg_catalog.format('%sms', v_ms), true);\n"
                   "  END IF;\nEND\n"));
  out.push_back(trigger_fn("on_ddl_command_end", "record_end"));
  out.push_back(trigger_fn("on_sql_drop", "record_drop"));
  out.push_back(trigger_fn("on_table_rewrite", "record_rewrite"));
  return out;
}

std::vector<SchemaStep> make_steps() {
  std::vector<SchemaStep> steps;
  steps.push_back({1, R"SQL(
CREATE TABLE ddlgate.guard_version (
  singleton pg_catalog.bool PRIMARY KEY DEFAULT true CHECK (singleton),
  version pg_catalog.int4 NOT NULL,
  mode pg_catalog.text NOT NULL CHECK (mode IN ('detect', 'enforce')),
  trigger_owner pg_catalog.name NOT NULL,
  installed_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  updated_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE TABLE ddlgate.changes (
  id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  event pg_catalog.text NOT NULL,
  database pg_catalog.name NOT NULL DEFAULT pg_catalog.current_database(),
  role_name pg_catalog.text,
  session_role pg_catalog.name,
  backend_pid pg_catalog.int4,
  backend_start pg_catalog.timestamptz,
  search_path pg_catalog.text,
  statement_sha256 pg_catalog.text,
  display_text pg_catalog.text,
  command_tag pg_catalog.text,
  object_type pg_catalog.text,
  object_identity pg_catalog.text,
  schema_name pg_catalog.text,
  in_extension pg_catalog.bool,
  detail pg_catalog.text
);
CREATE TABLE ddlgate.control_sessions (
  pid pg_catalog.int4 PRIMARY KEY,
  backend_start pg_catalog.timestamptz NOT NULL,
  lock_key pg_catalog.int8 NOT NULL,
  role_name pg_catalog.name NOT NULL,
  registered_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE TABLE ddlgate.confirmations (
  id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  control_pid pg_catalog.int4 NOT NULL,
  backend_pid pg_catalog.int4 NOT NULL,
  backend_start pg_catalog.timestamptz NOT NULL,
  statement_sha256 pg_catalog.text NOT NULL,
  command_tags pg_catalog.text[] NOT NULL,
  role_name pg_catalog.text NOT NULL,
  search_path pg_catalog.text,
  lock_keys pg_catalog.int8[] NOT NULL,
  confirmed_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  expires_at pg_catalog.timestamptz NOT NULL,
  released_at pg_catalog.timestamptz
);
CREATE SEQUENCE ddlgate.refusals;
)SQL"});
  // 2 (issue 28 item 3): a confirmation may carry a lock_timeout. confirm takes it (a new
  // argument, so the old signature goes) and check_start returns it (a new return type).
  steps.push_back({2, R"SQL(
ALTER TABLE ddlgate.confirmations ADD COLUMN lock_timeout_ms pg_catalog.int4, ADD COLUMN lock_timeout_key pg_catalog.int4;
DROP FUNCTION IF EXISTS ddlgate.confirm(pg_catalog.int4, pg_catalog.timestamptz, pg_catalog.text, pg_catalog.text[],
                                        pg_catalog.text, pg_catalog.text, pg_catalog.interval);
DROP FUNCTION IF EXISTS ddlgate.check_start(pg_catalog.text, pg_catalog.text, pg_catalog.text);
)SQL"});
  return steps;
}

const char* const kTables[] = {"guard_version", "changes", "control_sessions", "confirmations"};

}  // namespace

std::string_view to_string(Mode mode) { return mode == Mode::enforce ? "enforce" : "detect"; }

std::optional<Mode> mode_from_string(std::string_view text) {
  if (text == "enforce") return Mode::enforce;
  if (text == "detect") return Mode::detect;
  return std::nullopt;
}

std::vector<std::string> FunctionDef::config() const {
  if (security_definer) return {kDefinerPath};
  return {};
}

std::string FunctionDef::create_sql() const {
  std::string sql = "CREATE OR REPLACE FUNCTION ddlgate." + name + "(" + arguments + ") RETURNS " + returns +
                    " LANGUAGE " + language + " " + volatility +
                    (security_definer ? " SECURITY DEFINER SET search_path = pg_catalog, pg_temp" : " SECURITY INVOKER");
  // The body goes between dollar quotes unchanged, so pg_proc.prosrc is exactly `body`.
  sql += " AS $ddlgate_guard$" + body + "$ddlgate_guard$";
  return sql;
}

const std::vector<FunctionDef>& functions() {
  static const std::vector<FunctionDef> defs = make_functions();
  return defs;
}

const std::vector<TriggerDef>& triggers() {
  static const std::vector<TriggerDef> defs = {
      {"ddlgate_guard_ddl_command_start", "ddl_command_start", "on_ddl_command_start"},
      {"ddlgate_guard_ddl_command_end", "ddl_command_end", "on_ddl_command_end"},
      {"ddlgate_guard_sql_drop", "sql_drop", "on_sql_drop"},
      {"ddlgate_guard_table_rewrite", "table_rewrite", "on_table_rewrite"},
  };
  return defs;
}

const std::vector<SchemaStep>& schema_steps() {
  static const std::vector<SchemaStep> steps = make_steps();
  return steps;
}

std::vector<std::string> install_statements(int installed_version, std::optional<Mode> mode) {
  const std::string owner(kOwnerRole);
  const std::string control(kControlRole);
  std::vector<std::string> s;
  s.push_back("SET LOCAL search_path = pg_catalog, pg_temp");
  // Without its triggers for the rest of this transaction, the guard does not judge its own install.
  for (const auto& t : triggers()) s.push_back("DROP EVENT TRIGGER IF EXISTS " + t.name);
  // Roles belong to the cluster: another database's install may create them at the same time.
  for (const auto& role : {owner, control}) {
    s.push_back("DO $ddlgate$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '" + role +
                "') THEN CREATE ROLE " + role +
                " NOLOGIN; END IF; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $ddlgate$");
  }
  // ddlgate_guard reads the session's backend_start whatever role the session has; the control
  // connection looks up the backend_start of the backends it confirms for. (A membership that
  // another database's install grants at the same time is a unique violation, not a failure.)
  for (const auto& role : {owner, control}) {
    s.push_back("DO $ddlgate$ BEGIN IF NOT pg_catalog.pg_has_role('" + role +
                "', 'pg_read_all_stats', 'MEMBER') THEN GRANT pg_read_all_stats TO " + role +
                "; END IF; EXCEPTION WHEN unique_violation THEN NULL; END $ddlgate$");
  }
  s.push_back("CREATE SCHEMA IF NOT EXISTS ddlgate AUTHORIZATION " + owner);
  s.push_back("ALTER SCHEMA ddlgate OWNER TO " + owner);
  for (const auto& step : schema_steps()) {
    if (step.version > installed_version) s.push_back(step.sql);
  }
  for (const char* table : kTables) s.push_back(std::string("ALTER TABLE ddlgate.") + table + " OWNER TO " + owner);
  s.push_back("ALTER SEQUENCE ddlgate.refusals OWNER TO " + owner);
  for (const auto& f : functions()) {
    s.push_back(f.create_sql());
    s.push_back("ALTER FUNCTION ddlgate." + f.name + "(" + f.identity_args + ") OWNER TO " + owner);
  }
  s.push_back("REVOKE ALL ON SCHEMA ddlgate FROM PUBLIC");
  s.push_back("GRANT USAGE ON SCHEMA ddlgate TO PUBLIC");
  s.push_back("REVOKE ALL ON ALL TABLES IN SCHEMA ddlgate FROM PUBLIC, " + control);
  s.push_back("REVOKE ALL ON ALL SEQUENCES IN SCHEMA ddlgate FROM PUBLIC, " + control);
  s.push_back("GRANT SELECT ON ddlgate.changes, ddlgate.guard_version, ddlgate.confirmations TO " + control);
  // serve's monitor reads the refusal count (docs/guard.md, "What serve watches").
  s.push_back("GRANT SELECT ON SEQUENCE ddlgate.refusals TO " + control);
  s.push_back("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ddlgate FROM PUBLIC, " + control);
  for (const auto& f : functions()) {
    for (const auto& grantee : f.execute_to) {
      s.push_back("GRANT EXECUTE ON FUNCTION ddlgate." + f.name + "(" + f.identity_args + ") TO " + grantee);
    }
  }
  const std::string mode_sql =
      mode ? "'" + std::string(to_string(*mode)) + "'"
           : "COALESCE((SELECT g.mode FROM ddlgate.guard_version AS g), 'detect')";
  s.push_back("INSERT INTO ddlgate.changes (event, role_name, session_role, backend_pid, detail) "
              "SELECT 'install', CURRENT_USER, SESSION_USER, pg_catalog.pg_backend_pid(), "
              "pg_catalog.format('version %s -> " + std::to_string(kGuardVersion) + ", mode %s -> %s', "
              "COALESCE((SELECT g.version::pg_catalog.text FROM ddlgate.guard_version AS g), 'none'), "
              "COALESCE((SELECT g.mode FROM ddlgate.guard_version AS g), 'none'), " + mode_sql + ")");
  s.push_back("INSERT INTO ddlgate.guard_version (singleton, version, mode, trigger_owner) VALUES (true, " +
              std::to_string(kGuardVersion) + ", " + mode_sql +
              ", CURRENT_USER) ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version, mode = EXCLUDED.mode, "
              "trigger_owner = EXCLUDED.trigger_owner, updated_at = pg_catalog.clock_timestamp()");
  for (const auto& t : triggers()) {
    s.push_back("CREATE EVENT TRIGGER " + t.name + " ON " + t.event + " EXECUTE FUNCTION ddlgate." + t.function + "()");
    s.push_back("ALTER EVENT TRIGGER " + t.name + " ENABLE ALWAYS");
  }
  return s;
}

std::vector<std::string> uninstall_statements() {
  std::vector<std::string> s;
  s.push_back("SET LOCAL search_path = pg_catalog, pg_temp");
  for (const auto& t : triggers()) s.push_back("DROP EVENT TRIGGER IF EXISTS " + t.name);
  s.push_back("DROP SCHEMA IF EXISTS ddlgate CASCADE");
  return s;
}

}  // namespace ddlgate::guard
