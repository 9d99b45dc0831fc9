"""Where the edge keeps things: the database schema (Alembic migrations run from code) and
the file store of recordings and photos (`files`, the directory every host mounts)."""
