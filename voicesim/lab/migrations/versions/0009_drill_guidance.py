"""A drill may run with in-call guidance: the station's drill shows the cues (``voicesim drill
--guidance``). ``guidance`` false: no cues, as before.

Revision ID: 0009_drill_guidance
Revises: 0008_user_name_key
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_drill_guidance"
down_revision = "0008_user_name_key"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lab_drills") as batch:
        batch.add_column(
            sa.Column("guidance", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("lab_drills") as batch:
        batch.drop_column("guidance")
