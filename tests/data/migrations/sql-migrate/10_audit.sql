-- +migrate Up notransaction
CREATE INDEX CONCURRENTLY orders_user ON orders (user_id);
