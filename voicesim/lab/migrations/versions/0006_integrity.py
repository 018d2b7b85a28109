"""Integrity of drills and scores: each session's verified source, the content keys that keep
one user's call from being credited to another (unique lab-wide), the attempt number that
makes a drill's attempt limit hold under concurrent uploads (unique per trainee and drill),
whether the call was scorable, a drill's ``allow_practice``, and the copied calls refused.

Sessions stored before have no verified source (shown as such) and no content keys; their
attempt numbers are filled in from their order of arrival.

Revision ID: 0006_integrity
Revises: 0005_reviews
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_integrity"
down_revision = "0005_reviews"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lab_drills") as batch:
        batch.add_column(
            sa.Column("allow_practice", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("lab_sessions") as batch:
        batch.add_column(sa.Column("source", sa.String(16), nullable=True))
        batch.add_column(sa.Column("source_note", sa.String(200), nullable=True))
        batch.add_column(sa.Column("copy_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("audio_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("scorable", sa.Boolean(), nullable=True))
    # Attempt numbers of the drill sessions already stored: their order of arrival per trainee
    # and drill (a limit overrun by the old race keeps its rows, numbered past the limit).
    op.execute(
        "UPDATE lab_sessions SET attempt = (SELECT count(*) FROM lab_sessions AS earlier "
        "WHERE earlier.owner_id = lab_sessions.owner_id "
        "AND earlier.drill_id = lab_sessions.drill_id AND earlier.id <= lab_sessions.id) "
        "WHERE drill_id IS NOT NULL"
    )
    with op.batch_alter_table("lab_sessions") as batch:
        batch.create_unique_constraint(
            "uq_lab_sessions_attempt", ["owner_id", "drill_id", "attempt"]
        )
        batch.create_unique_constraint("uq_lab_sessions_copy_key", ["copy_key"])
        batch.create_unique_constraint("uq_lab_sessions_audio_key", ["audio_key"])
    op.create_table(
        "lab_copy_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("original_id", sa.Integer(), nullable=False),
        sa.Column("drill_id", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["lab_users.id"]),
        sa.ForeignKeyConstraint(["original_id"], ["lab_sessions.id"]),
        sa.ForeignKeyConstraint(["drill_id"], ["lab_drills.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lab_copy_flags_user_id", "lab_copy_flags", ["user_id"])


def downgrade() -> None:
    op.drop_table("lab_copy_flags")
    with op.batch_alter_table("lab_sessions") as batch:
        for name in ("audio_key", "copy_key", "attempt"):
            batch.drop_constraint(f"uq_lab_sessions_{name}", type_="unique")
        for col in ("scorable", "attempt", "audio_key", "copy_key", "source_note", "source"):
            batch.drop_column(col)
    with op.batch_alter_table("lab_drills") as batch:
        batch.drop_column("allow_practice")
