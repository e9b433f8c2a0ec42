-- liquibase formatted sql

-- changeset bob:3
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id));
-- rollback DROP TABLE orders;
