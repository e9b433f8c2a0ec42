-- +migrate Up
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);

-- +migrate Down
DROP TABLE users;
