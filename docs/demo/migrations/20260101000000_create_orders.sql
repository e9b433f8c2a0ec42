-- migrate:up
create table orders (
  id bigint generated always as identity primary key,
  customer text not null,
  total_cents bigint not null check (total_cents >= 0),
  created_at timestamptz not null default now()
);
create index orders_customer on orders (customer);

-- migrate:down
drop table orders;
