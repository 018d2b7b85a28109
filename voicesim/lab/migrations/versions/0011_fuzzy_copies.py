"""A copied call changed a little is still found: each session keeps the key of its words
without their times, its audio's fingerprint and the audio's length (sessions stored before
keep none of them and are found by their exact keys only).

Revision ID: 0011_fuzzy_copies
Revises: 0010_welcome_links
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_fuzzy_copies"
down_revision = "0010_welcome_links"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lab_sessions") as batch:
        batch.add_column(sa.Column("words_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("fingerprint", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("audio_seconds", sa.Float(), nullable=True))
        batch.create_index("ix_lab_sessions_words_key", ["words_key"])
        batch.create_index("ix_lab_sessions_audio_seconds", ["audio_seconds"])


def downgrade() -> None:
    with op.batch_alter_table("lab_sessions") as batch:
        batch.drop_index("ix_lab_sessions_audio_seconds")
        batch.drop_index("ix_lab_sessions_words_key")
        batch.drop_column("audio_seconds")
        batch.drop_column("fingerprint")
        batch.drop_column("words_key")
