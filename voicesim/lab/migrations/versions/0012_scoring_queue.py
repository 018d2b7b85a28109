"""Uploads are stored first and scored later, from a queue: each session has a status (queued,
scoring, scored, refused, failed), the lab process that claimed it and when, and how far its
events' trainee words are from the lab's own transcript of its audio. Scores are empty until
a session is scored. Sessions stored before were scored on upload: they are ``scored``.

Revision ID: 0012_scoring_queue
Revises: 0011_fuzzy_copies
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_scoring_queue"
down_revision = "0011_fuzzy_copies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lab_sessions") as batch:
        batch.add_column(
            sa.Column("status", sa.String(16), nullable=False, server_default="scored")
        )
        batch.add_column(sa.Column("claimed_by", sa.String(120), nullable=True))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("transcript_wer", sa.Float(), nullable=True))
        batch.alter_column("overall", existing_type=sa.Float(), nullable=True)
        batch.alter_column("families", existing_type=sa.JSON(), nullable=True)
        batch.alter_column("passed", existing_type=sa.Boolean(), nullable=True)
        batch.create_index("ix_lab_sessions_status", ["status"])


def downgrade() -> None:
    # Sessions not scored yet have no scores to keep: they go (their files stay on disk).
    unscored = "(SELECT id FROM lab_sessions WHERE status <> 'scored')"
    for table, column in (
        ("lab_session_scores", "upload_id"),
        ("lab_reviews", "upload_id"),
        ("lab_copy_flags", "original_id"),
    ):
        op.execute(f"DELETE FROM {table} WHERE {column} IN {unscored}")
    op.execute("DELETE FROM lab_sessions WHERE status <> 'scored'")
    with op.batch_alter_table("lab_sessions") as batch:
        batch.drop_index("ix_lab_sessions_status")
        batch.alter_column("passed", existing_type=sa.Boolean(), nullable=False)
        batch.alter_column("families", existing_type=sa.JSON(), nullable=False)
        batch.alter_column("overall", existing_type=sa.Float(), nullable=False)
        batch.drop_column("transcript_wer")
        batch.drop_column("claimed_at")
        batch.drop_column("claimed_by")
        batch.drop_column("status")
