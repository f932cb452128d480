-- A host application's own migrations, for tests/migrations.rs.
CREATE TABLE host_orders (id BIGSERIAL PRIMARY KEY, note TEXT NOT NULL);
