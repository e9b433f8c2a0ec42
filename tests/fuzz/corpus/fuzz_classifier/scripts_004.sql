CREATE TABLE schema_migrations (version bigint PRIMARY KEY);
CREATE TABLE IF NOT EXISTS users (id bigserial PRIMARY KEY, email text UNIQUE NOT NULL);