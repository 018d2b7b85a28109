"""Personas that trainers add for their drills (uploaded YAML or an edited copy), kept as text.

Revision ID: 0013_lab_personas
Revises: 0012_scoring_queue
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_lab_personas"
down_revision = "0012_scoring_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lab_personas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("persona_id", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("based_on", sa.String(64), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["lab_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("persona_id"),
    )


def downgrade() -> None:
    op.drop_table("lab_personas")
