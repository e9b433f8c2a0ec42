// node-postgres (npm "pg") through ddlgate, extended protocol as ORMs use it.
// The database is $PGDATABASE (default postgres).
// Usage: node node_pg.js <port>. Prints one line per step; exits 1 on a surprise.
const path = require('path');
const { Client } = require(path.join(process.env.NPM_TOOLS, 'node_modules', 'pg'));

async function main() {
  const client = new Client({ host: '127.0.0.1', port: Number(process.argv[2]), user: 'postgres', database: process.env.PGDATABASE || 'postgres' });
  await client.connect();
  // A named query is sent as Parse/Bind/Describe/Execute/Sync.
  await client.query({ name: 'ddl-create', text: 'create table users (id bigint primary key, email text not null)' });
  console.log('approved: ok');
  try {
    await client.query({ name: 'ddl-drop', text: 'drop table users' });
    console.log('unapproved: NOT REFUSED');
    process.exitCode = 1;
  } catch (e) {
    console.log(`unapproved: ${e.code}`);
    // What an application logs of it: node-postgres's error string is the primary message.
    console.log(`error string: ${String(e)}`);
  }
  const r = await client.query('select $1::int + 1 as n', [41]);
  console.log(`after: ${r.rows[0].n}`);
  await client.query('begin');
  await client.query('insert into users values ($1, $2)', [1, 'a@example.com']);
  try {
    await client.query('alter table users add column sneaky int', []);
  } catch (e) {
    console.log(`in transaction: ${e.code}`);
  }
  const c = await client.query('commit');
  console.log(`commit: ${c.command}`);
  await client.end();
}
main().catch((e) => { console.log(`error: ${e.message}`); process.exit(1); });
