"""Invitations to a cohort; cohort names unique per trainer instead of lab-wide (so a taken
name tells nothing about other trainers' cohorts). The hand-rolled schema's version 4.

Revision ID: 0004_invitations
Revises: 0003_rubrics
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_invitations"
down_revision = "0003_rubrics"
branch_labels = None
depends_on = None

# SQLite keeps the lab-wide constraint unnamed: batch mode finds it under this name.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    op.create_table(
        "lab_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("invited_by", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["cohort_id"], ["lab_cohorts.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["lab_users.id"]),
        sa.ForeignKeyConstraint(["invited_by"], ["lab_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cohort_id", "user_id"),
    )
    op.create_index("ix_lab_invitations_cohort_id", "lab_invitations", ["cohort_id"])
    op.create_index("ix_lab_invitations_user_id", "lab_invitations", ["user_id"])
    uniques = sa.inspect(op.get_bind()).get_unique_constraints("lab_cohorts")
    lab_wide = [u for u in uniques if u["column_names"] == ["name"]]
    per_trainer = any(sorted(u["column_names"]) == ["created_by", "name"] for u in uniques)
    if not lab_wide and per_trainer:
        return
    with op.batch_alter_table("lab_cohorts", naming_convention=NAMING) as batch:
        for u in lab_wide:
            batch.drop_constraint(u["name"] or "uq_lab_cohorts_name", type_="unique")
        if not per_trainer:
            batch.create_unique_constraint("uq_lab_cohorts_owner_name", ["created_by", "name"])


def downgrade() -> None:
    with op.batch_alter_table("lab_cohorts") as batch:
        batch.drop_constraint("uq_lab_cohorts_owner_name", type_="unique")
        batch.create_unique_constraint("uq_lab_cohorts_name", ["name"])
    op.drop_table("lab_invitations")
