--liquibase formatted sql

--changeset alice:1
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);
--rollback DROP TABLE users;

--changeset alice:2
CREATE INDEX users_email ON users (email);
--rollback DROP INDEX users_email;
