"""The lab schema's Alembic revisions, oldest first (0001 is the first hand-rolled version)."""
