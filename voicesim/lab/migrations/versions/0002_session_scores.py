"""Per-family scores of each session in their own table (the weakest skills are an SQL
aggregate), filled in for the sessions already stored. The hand-rolled schema's version 2.

Revision ID: 0002_session_scores
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_session_scores"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    scores = op.create_table(
        "lab_session_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upload_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("family", sa.String(64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["upload_id"], ["lab_sessions.id"]),
        sa.ForeignKeyConstraint(["owner_id"], ["lab_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lab_session_scores_upload_id", "lab_session_scores", ["upload_id"])
    op.create_index("ix_lab_session_scores_owner_id", "lab_session_scores", ["owner_id"])
    sessions = sa.table(
        "lab_sessions",
        sa.column("id", sa.Integer()),
        sa.column("owner_id", sa.Integer()),
        sa.column("families", sa.JSON()),
    )
    conn = op.get_bind()
    rows = [
        {"upload_id": uid, "owner_id": owner, "family": fam, "score": float(score)}
        for uid, owner, fams in conn.execute(
            sa.select(sessions.c.id, sessions.c.owner_id, sessions.c.families)
        )
        for fam, score in (fams or {}).items()
    ]
    if rows:
        op.bulk_insert(scores, rows)


def downgrade() -> None:
    op.drop_table("lab_session_scores")
