"""Storage: SQLAlchemy 2 models, the repository, the retrying recorder, Alembic migrations."""
