"""Registry persistence: engine set-up, ORM tables, Alembic migrations."""
