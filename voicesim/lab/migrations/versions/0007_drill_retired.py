"""A drill can be retired: it leaves its trainees' assignments and takes no more uploads, and
its sessions and results stay. ``retired`` is when (None: the drill is open).

Revision ID: 0007_drill_retired
Revises: 0006_integrity
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_drill_retired"
down_revision = "0006_integrity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lab_drills") as batch:
        batch.add_column(sa.Column("retired", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lab_drills") as batch:
        batch.drop_column("retired")
