"""Rubrics that trainers add for their drills. The hand-rolled schema's version 3.

Revision ID: 0003_rubrics
Revises: 0002_session_scores
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_rubrics"
down_revision = "0002_session_scores"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lab_rubrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["lab_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("lab_rubrics")
