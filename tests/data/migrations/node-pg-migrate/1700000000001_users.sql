-- Up Migration
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);

-- Down Migration
DROP TABLE users;
