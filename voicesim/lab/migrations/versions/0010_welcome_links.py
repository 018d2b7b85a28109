"""Welcome links: a trainee made from a roster import chooses their own password with a
one-time link (only its digest is stored), instead of the trainer typing one per trainee.

Revision ID: 0010_welcome_links
Revises: 0009_drill_guidance
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_welcome_links"
down_revision = "0009_drill_guidance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lab_welcome_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("lab_users.id"), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("lab_users.id"), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
        sa.Column("used", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_lab_welcome_links_user_id", "lab_welcome_links", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_lab_welcome_links_user_id", table_name="lab_welcome_links")
    op.drop_table("lab_welcome_links")
