-- migrate:up
create table users (
  id bigint primary key,
  email text not null
);
grant select on users to reporting;

-- migrate:down
drop table users;
