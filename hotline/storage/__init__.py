"""Where the edge keeps things: the database schema (Alembic migrations run from code) and
the files people attach, under var/."""
