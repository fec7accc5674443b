"""Registry persistence: engine set-up, tables (SQLAlchemy Core), Alembic migrations, the read-only SQLite reader.

The schema facts live here, free of SQLAlchemy, so that the read-only
reader (:mod:`modelport.db.sqlite_reads`) checks a database the same way
:class:`modelport.db.database.Database` does without importing it.
"""

#: the newest migration in migrations/versions (tests/db checks it against Alembic's own view).
#: Opening a database compares against this without importing Alembic (~0.15 s off every command).
SCHEMA_HEAD = "0011"
UPGRADE_HINT = "modelport db upgrade"
