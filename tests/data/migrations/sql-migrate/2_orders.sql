-- +migrate Down
DROP TABLE orders;

-- +migrate Up
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id));
-- +migrate StatementBegin
CREATE FUNCTION orders_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM orders $$;
-- +migrate StatementEnd
