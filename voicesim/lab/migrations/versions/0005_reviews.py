"""Trainers' comments on a session and overrides of a criterion's points (rows only ever
added: the audit trail). The hand-rolled schema's version 5.

Revision ID: 0005_reviews
Revises: 0004_invitations
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_reviews"
down_revision = "0004_invitations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lab_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upload_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("t", sa.Float(), nullable=True),
        sa.Column("criterion", sa.String(64), nullable=True),
        sa.Column("machine", sa.Float(), nullable=True),
        sa.Column("earned", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["upload_id"], ["lab_sessions.id"]),
        sa.ForeignKeyConstraint(["author_id"], ["lab_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lab_reviews_upload_id", "lab_reviews", ["upload_id"])


def downgrade() -> None:
    op.drop_table("lab_reviews")
