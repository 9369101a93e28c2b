"""The SQL store: tables, sessions and migrations (SQLAlchemy 2, Alembic)."""
