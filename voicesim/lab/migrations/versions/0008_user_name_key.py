"""User names compared as one: ``lab_users.name_key``, the name case-folded, NFKC-normalised and
without the dots, dashes, underscores and spaces around it, unique, so 'amy', 'Amy' and 'amy.'
cannot be three accounts. Users stored before keep their names; of existing names that read
alike, the oldest keeps the key and the others get theirs with '#ID' (they sign in with their
exact name until a trainer renames them).

Revision ID: 0008_user_name_key
Revises: 0007_drill_retired
"""

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0008_user_name_key"
down_revision = "0007_drill_retired"
branch_labels = None
depends_on = None


def _key(username: str) -> str:  # store.name_key as of this revision (a migration is frozen)
    return unicodedata.normalize("NFKC", username).casefold().strip(" ._-")


def upgrade() -> None:
    with op.batch_alter_table("lab_users") as batch:
        batch.add_column(sa.Column("name_key", sa.String(80), nullable=True))
    conn = op.get_bind()
    taken: set[str] = set()
    for uid, name in conn.execute(sa.text("SELECT id, username FROM lab_users ORDER BY id")):
        key = _key(name)
        if not key or key in taken:
            key = f"{key}#{uid}"
        taken.add(key)
        conn.execute(
            sa.text("UPDATE lab_users SET name_key = :key WHERE id = :id"), {"key": key, "id": uid}
        )
    with op.batch_alter_table("lab_users") as batch:
        batch.alter_column("name_key", existing_type=sa.String(80), nullable=False)
        batch.create_unique_constraint("uq_lab_users_name_key", ["name_key"])


def downgrade() -> None:
    with op.batch_alter_table("lab_users") as batch:
        batch.drop_constraint("uq_lab_users_name_key", type_="unique")
        batch.drop_column("name_key")
