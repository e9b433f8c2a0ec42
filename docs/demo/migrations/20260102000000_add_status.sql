-- migrate:up
alter table orders add column status text not null default 'new';

-- migrate:down
alter table orders drop column status;
