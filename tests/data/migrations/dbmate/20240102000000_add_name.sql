-- migrate:up transaction:false
create index concurrently users_email on users (email);
alter table users add column name text default '';

-- migrate:down
alter table users drop column name;
