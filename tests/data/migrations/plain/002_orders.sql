CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id), total numeric(12,2) DEFAULT 0);
INSERT INTO orders VALUES (1, NULL, 0);
