-- up migration
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id));
-- down migration
DROP TABLE orders;
