"""Persistence: SQLAlchemy tables, sessions and Alembic migrations for SQLite and PostgreSQL."""
