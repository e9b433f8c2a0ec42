// The canonical description of a schema, read from PostgreSQL 15's catalogs in one query
// (docs/drift.md, "What is compared"). Every row is (kind, name, attribute, value); a NULL value
// means the attribute does not apply. Names are quoted with quote_ident and schema-qualified;
// expressions are printed by the server's own deparsers (pg_get_expr, pg_get_viewdef, ...)
// under search_path = pg_catalog, so that every name in them is qualified the same way on
// both sides.
#include <string>

#include "ddlgate/drift/drift.h"

namespace ddlgate::drift {

namespace {

// A role, normalised: the migrator ($1) and the bootstrap superuser (oid 10) by what they are,
// so that two clusters whose migrator or superuser is named differently compare equal.
std::string role(const std::string& oid) {
  return "(CASE WHEN " + oid + " = $1::oid THEN '(migrator)' WHEN " + oid + " = 10 THEN '(superuser)' WHEN " + oid +
         " = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(" + oid + ")::text END)";
}

// Schemas whose objects are described: not the system's, not a temporary one, not the
// in-database guard's own `ddlgate` schema (issue 25; `ddlgate guard status` checks it).
const std::string kUserSchema =
    "n.nspname NOT IN ('pg_catalog', 'information_schema', 'ddlgate') AND n.nspname !~ '^pg_(toast|temp_)'";

// Not a member of an extension: the extension (its name, version, schema) stands for its objects.
std::string not_member(const std::string& catalog, const std::string& oid) {
  return "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '" + catalog + "'::regclass AND d.objid = " + oid +
         " AND d.deptype = 'e')";
}

// One row per grantee: "grant to <role>" -> its privileges, sorted ("INSERT, SELECT WITH GRANT OPTION").
std::string grants(const std::string& kind, const std::string& name, const std::string& from, const std::string& acl,
                   const std::string& where) {
  const std::string priv = "g.privilege_type || CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END";
  return "SELECT " + kind + ", " + name + ", 'grant to ' || " + role("g.grantee") + ", string_agg(DISTINCT " + priv +
         ", ', ' ORDER BY " + priv + ") FROM " + from + ", LATERAL aclexplode(" + acl + ") g WHERE " + where +
         " GROUP BY 1, 2, 3";
}

const std::string kRelKind =
    "(CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'f' THEN 'foreign table' WHEN 'v' THEN 'view' "
    "WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' END)";
const std::string kRelName = "(quote_ident(n.nspname) || '.' || quote_ident(c.relname))";
const std::string kRelFrom = "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace";
const std::string kParent = "('parent', " + kRelKind + " || ' ' || " + kRelName + ")";
std::string rel_where(const std::string& kinds) {
  return "c.relkind IN (" + kinds + ") AND " + kUserSchema + " AND " + not_member("pg_class", "c.oid");
}

std::string description_sql() {
  const std::string tables = "'r', 'p', 'f'";
  const std::string relations = "'r', 'p', 'f', 'v', 'm', 'S'";
  std::string q;
  auto part = [&q](const std::string& s) { q += (q.empty() ? "" : "\nUNION ALL\n") + s; };

  // Schemas.
  part("SELECT 'schema', quote_ident(n.nspname), v.attr, v.value FROM pg_namespace n, LATERAL (VALUES ('', ''), "
       "('owner', " + role("n.nspowner") + "), ('comment', obj_description(n.oid, 'pg_namespace'))) v(attr, value) "
       "WHERE " + kUserSchema + " AND " + not_member("pg_namespace", "n.oid"));
  part(grants("'schema'", "quote_ident(n.nspname)", "pg_namespace n", "coalesce(n.nspacl, acldefault('n', n.nspowner))",
              kUserSchema + " AND " + not_member("pg_namespace", "n.oid")));
  // Extensions.
  part("SELECT 'extension', quote_ident(e.extname), v.attr, v.value FROM pg_extension e JOIN pg_namespace n ON "
       "n.oid = e.extnamespace, LATERAL (VALUES ('', ''), ('version', e.extversion), ('schema', quote_ident(n.nspname)), "
       "('comment', obj_description(e.oid, 'pg_extension'))) v(attr, value)");
  // Tables, views, materialized views, sequences.
  part("SELECT " + kRelKind + ", " + kRelName + ", v.attr, v.value FROM " + kRelFrom +
       " LEFT JOIN pg_sequence s ON s.seqrelid = c.oid, LATERAL (VALUES ('', ''), "
       "('owner', " + role("c.relowner") + "), "
       "('comment', obj_description(c.oid, 'pg_class')), "
       "('persistence', CASE c.relpersistence WHEN 'u' THEN 'unlogged' END), "
       "('partition key', CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END), "
       "('partition of', CASE WHEN c.relispartition THEN (SELECT i.inhparent::regclass::text FROM pg_inherits i "
       "WHERE i.inhrelid = c.oid) || ' ' || pg_get_expr(c.relpartbound, c.oid) END), "
       "('inherits', CASE WHEN NOT c.relispartition THEN (SELECT string_agg(i.inhparent::regclass::text, ', ' "
       "ORDER BY i.inhseqno) FROM pg_inherits i WHERE i.inhrelid = c.oid) END), "
       "('row level security', CASE WHEN c.relrowsecurity THEN CASE WHEN c.relforcerowsecurity THEN 'enabled, forced' "
       "ELSE 'enabled' END END), "
       "('options', array_to_string(c.reloptions, ', ')), "
       "('definition', CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END), "
       "('type', format_type(s.seqtypid, NULL)), ('start', s.seqstart::text), ('increment', s.seqincrement::text), "
       "('minimum', s.seqmin::text), ('maximum', s.seqmax::text), ('cache', s.seqcache::text), "
       "('cycle', s.seqcycle::text), "
       "('owned by', CASE WHEN c.relkind = 'S' THEN (SELECT d.refobjid::regclass::text || '.' || quote_ident(a.attname) "
       "FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
       "WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass "
       "AND d.deptype IN ('a', 'i') LIMIT 1) END)"
       ") v(attr, value) WHERE " + rel_where(relations));
  part(grants(kRelKind, kRelName, kRelFrom,
              "coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::\"char\", c.relowner))",
              rel_where(relations)));
  // Columns of tables.
  const std::string column_name = kRelName + " || '.' || quote_ident(a.attname)";
  const std::string column_from = kRelFrom + " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped";
  part("SELECT 'column', " + column_name + ", v.attr, v.value FROM " + column_from +
       " JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum, "
       "LATERAL (VALUES " + kParent + ", "
       "('type', format_type(a.atttypid, a.atttypmod)), "
       "('not null', a.attnotnull::text), "
       "('default', CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END), "
       "('generated', CASE WHEN a.attgenerated = 's' THEN pg_get_expr(ad.adbin, ad.adrelid) END), "
       "('identity', CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END), "
       "('collation', CASE WHEN a.attcollation <> t.typcollation THEN (SELECT quote_ident(co.collname) "
       "FROM pg_collation co WHERE co.oid = a.attcollation) END), "
       "('comment', col_description(c.oid, a.attnum))"
       ") v(attr, value) WHERE " + rel_where(tables));
  part(grants("'column'", column_name, column_from, "a.attacl", "a.attacl IS NOT NULL AND " + rel_where(tables)));
  // Constraints of tables (NOT NULL is a column's attribute in PostgreSQL 15).
  part("SELECT 'constraint', " + kRelName + " || '.' || quote_ident(con.conname), v.attr, v.value FROM " + kRelFrom +
       " JOIN pg_constraint con ON con.conrelid = c.oid, LATERAL (VALUES " + kParent + ", "
       "('definition', pg_get_constraintdef(con.oid)), ('comment', obj_description(con.oid, 'pg_constraint'))"
       ") v(attr, value) WHERE " + rel_where(tables));
  // Indexes (named in their table's schema).
  part("SELECT 'index', quote_ident(n.nspname) || '.' || quote_ident(ic.relname), v.attr, v.value FROM " + kRelFrom +
       " JOIN pg_index i ON i.indrelid = c.oid JOIN pg_class ic ON ic.oid = i.indexrelid, LATERAL (VALUES " + kParent +
       ", ('definition', pg_get_indexdef(ic.oid)), ('comment', obj_description(ic.oid, 'pg_class')), "
       "('valid', CASE WHEN NOT i.indisvalid THEN 'false' END)) v(attr, value) WHERE " + rel_where("'r', 'p', 'f', 'm'"));
  // Triggers (not the internal ones of foreign keys).
  part("SELECT 'trigger', " + kRelName + " || '.' || quote_ident(tg.tgname), v.attr, v.value FROM " + kRelFrom +
       " JOIN pg_trigger tg ON tg.tgrelid = c.oid, LATERAL (VALUES " + kParent + ", "
       "('definition', pg_get_triggerdef(tg.oid)), "
       "('enabled', CASE tg.tgenabled WHEN 'O' THEN 'origin' WHEN 'D' THEN 'disabled' WHEN 'R' THEN 'replica' "
       "WHEN 'A' THEN 'always' END), ('comment', obj_description(tg.oid, 'pg_trigger'))"
       ") v(attr, value) WHERE NOT tg.tgisinternal AND " + rel_where(relations));
  // Row-level security policies.
  part("SELECT 'policy', " + kRelName + " || '.' || quote_ident(pol.polname), v.attr, v.value FROM " + kRelFrom +
       " JOIN pg_policy pol ON pol.polrelid = c.oid, LATERAL (VALUES " + kParent + ", "
       "('command', CASE pol.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' "
       "WHEN 'd' THEN 'DELETE' ELSE 'ALL' END), "
       "('permissive', pol.polpermissive::text), "
       "('roles', (SELECT string_agg(" + role("r.r") + ", ', ' ORDER BY " + role("r.r") +
       ") FROM unnest(pol.polroles) AS r(r))), "
       "('using', pg_get_expr(pol.polqual, pol.polrelid)), "
       "('with check', pg_get_expr(pol.polwithcheck, pol.polrelid)), "
       "('comment', obj_description(pol.oid, 'pg_policy'))"
       ") v(attr, value) WHERE " + rel_where(tables));
  // Functions, procedures, aggregates.
  const std::string proc_kind = "(CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END)";
  const std::string proc_name =
      "(quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')')";
  const std::string proc_from = "pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace";
  const std::string proc_where = kUserSchema + " AND " + not_member("pg_proc", "p.oid");
  part("SELECT " + proc_kind + ", " + proc_name + ", v.attr, v.value FROM " + proc_from + ", LATERAL (VALUES ('', ''), "
       "('owner', " + role("p.proowner") + "), "
       "('definition', CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END), "
       "('result', CASE WHEN p.prokind = 'a' THEN pg_get_function_result(p.oid) END), "
       "('comment', obj_description(p.oid, 'pg_proc'))"
       ") v(attr, value) WHERE " + proc_where);
  part(grants(proc_kind, proc_name, proc_from, "coalesce(p.proacl, acldefault('f', p.proowner))", proc_where));
  // Enums, domains, ranges, standalone composite types.
  const std::string type_name = "(quote_ident(n.nspname) || '.' || quote_ident(t.typname))";
  const std::string type_from = "pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace";
  const std::string type_where = kUserSchema + " AND " + not_member("pg_type", "t.oid") +
                                 " AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND "
                                 "(SELECT k.relkind FROM pg_class k WHERE k.oid = t.typrelid) = 'c'))";
  part("SELECT 'type', " + type_name + ", v.attr, v.value FROM " + type_from + ", LATERAL (VALUES ('', ''), "
       "('owner', " + role("t.typowner") + "), "
       "('kind', CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' WHEN 'r' THEN 'range' ELSE 'composite' END), "
       "('labels', CASE WHEN t.typtype = 'e' THEN (SELECT string_agg(quote_literal(e.enumlabel), ', ' "
       "ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) END), "
       "('base type', CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END), "
       "('not null', CASE WHEN t.typtype = 'd' THEN t.typnotnull::text END), "
       "('default', t.typdefault), "
       "('constraints', CASE WHEN t.typtype = 'd' THEN (SELECT string_agg(quote_ident(con.conname) || ' ' || "
       "pg_get_constraintdef(con.oid), ', ' ORDER BY con.conname) FROM pg_constraint con WHERE con.contypid = t.oid) END), "
       "('attributes', CASE WHEN t.typtype = 'c' THEN (SELECT string_agg(quote_ident(a.attname) || ' ' || "
       "format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = t.typrelid "
       "AND a.attnum > 0 AND NOT a.attisdropped) END), "
       "('subtype', CASE WHEN t.typtype = 'r' THEN (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r "
       "WHERE r.rngtypid = t.oid) END), "
       "('comment', obj_description(t.oid, 'pg_type'))"
       ") v(attr, value) WHERE " + type_where);
  part(grants("'type'", type_name, type_from, "coalesce(t.typacl, acldefault('T', t.typowner))", type_where));
  // Default privileges (ALTER DEFAULT PRIVILEGES): what objects a role makes later will grant.
  part(grants("'default privileges'",
              "'for ' || " + role("d.defaclrole") + " || coalesce(' in schema ' || quote_ident(n.nspname), '') || "
              "' on ' || CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN "
              "'functions' WHEN 'T' THEN 'types' ELSE 'schemas' END",
              "pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace", "d.defaclacl", "true"));
  return q;
}

}  // namespace

base::Result<SchemaDescription> describe(Connection& conn, const std::string& migrator_role) {
  // One snapshot, read only: nothing is written to the database described, and every catalog
  // row comes from the same moment.
  if (auto st = conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL search_path = pg_catalog");
      !st) {
    return base::Error(conn.side() + ": " + st.error().reason);
  }
  auto done = [&conn] { (void)conn.exec("ROLLBACK"); };
  auto who = conn.query("SELECT oid::text FROM pg_roles WHERE rolname = $1", {migrator_role});
  if (!who) {
    done();
    return who.error();
  }
  if (who->empty() || !(*who)[0][0]) {
    done();
    return base::Error(conn.side() + ": the migrator role '" + migrator_role + "' does not exist");
  }
  auto rows = conn.query(description_sql(), {*(*who)[0][0]});
  done();
  if (!rows) return rows.error();
  SchemaDescription d;
  for (const auto& row : *rows) {
    if (row.size() != 4 || !row[0] || !row[1] || !row[2] || !row[3]) continue;  // NULL: does not apply
    d.add(*row[0], *row[1], *row[2], *row[3]);
  }
  return d;
}

base::Result<std::optional<std::string>> first_object(Connection& conn) {
  // Anything a migration could collide with: a schema other than public, a relation, a
  // routine or type in a non-system schema, an extension other than plpgsql.
  const std::string sys = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'";
  auto rows = conn.query(
      "SELECT what FROM ("
      "SELECT 'schema ' || quote_ident(n.nspname) AS what FROM pg_namespace n WHERE " + sys + " AND n.nspname <> 'public' "
      "UNION ALL SELECT 'relation ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
      "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE " + sys + " "
      "UNION ALL SELECT 'function ' || quote_ident(n.nspname) || '.' || quote_ident(p.proname) FROM pg_proc p "
      "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE " + sys + " "
      "UNION ALL SELECT 'type ' || quote_ident(n.nspname) || '.' || quote_ident(t.typname) FROM pg_type t "
      "JOIN pg_namespace n ON n.oid = t.typnamespace WHERE " + sys + " "
      "UNION ALL SELECT 'extension ' || quote_ident(extname) FROM pg_extension WHERE extname <> 'plpgsql'"
      ") x ORDER BY what LIMIT 1");
  if (!rows) return rows.error();
  if (rows->empty() || !(*rows)[0][0]) return std::optional<std::string>{};
  return std::optional<std::string>{*(*rows)[0][0]};
}

}  // namespace ddlgate::drift
