CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint);
ALTER TABLE orders ADD CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id);
