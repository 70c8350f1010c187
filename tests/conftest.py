"""Shared fixtures. Tests run on SQLite by default and on PostgreSQL when
TIERCARE_DATABASE_URL points at one (``make test`` runs both)."""
