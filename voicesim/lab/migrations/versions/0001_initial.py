"""The first lab schema: users, cohorts (names unique lab-wide then), memberships, drills,
uploaded sessions and tokens. The hand-rolled schema's version 1.

Revision ID: 0001_initial
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lab_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "lab_cohorts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["lab_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),  # per trainer from 0004 on
    )
    op.create_table(
        "lab_memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["cohort_id"], ["lab_cohorts.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["lab_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cohort_id", "user_id"),
    )
    op.create_index("ix_lab_memberships_cohort_id", "lab_memberships", ["cohort_id"])
    op.create_index("ix_lab_memberships_user_id", "lab_memberships", ["user_id"])
    op.create_table(
        "lab_drills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("persona", sa.String(120), nullable=False),
        sa.Column("rubric", sa.String(120), nullable=False),
        sa.Column("pass_mark", sa.Float(), nullable=False),
        sa.Column("due", sa.DateTime(), nullable=True),
        sa.Column("attempts_allowed", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["cohort_id"], ["lab_cohorts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lab_drills_cohort_id", "lab_drills", ["cohort_id"])
    op.create_table(
        "lab_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("drill_id", sa.Integer(), nullable=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("storage_id", sa.String(32), nullable=False),
        sa.Column("persona", sa.String(120), nullable=False),
        sa.Column("overall", sa.Float(), nullable=False),
        sa.Column("families", sa.JSON(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("end_state", sa.String(32), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["lab_users.id"]),
        sa.ForeignKeyConstraint(["drill_id"], ["lab_drills.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner_id", "digest"),
        sa.UniqueConstraint("storage_id"),
    )
    op.create_index("ix_lab_sessions_owner_id", "lab_sessions", ["owner_id"])
    op.create_index("ix_lab_sessions_drill_id", "lab_sessions", ["drill_id"])
    op.create_index("ix_lab_sessions_created", "lab_sessions", ["created"])
    op.create_table(
        "lab_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["lab_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_lab_tokens_user_id", "lab_tokens", ["user_id"])


def downgrade() -> None:
    for table in ("lab_tokens", "lab_sessions", "lab_drills", "lab_memberships", "lab_cohorts"):
        op.drop_table(table)
    op.drop_table("lab_users")
