"""The lab database's schema history, as Alembic revisions (``versions/``), run by
``voicesim.lab.store.migrate`` whenever a store opens (``lab serve``, the ``lab`` commands).

Revisions 0001-0005 are the five versions of the hand-rolled schema that came before Alembic
(its ``lab_schema`` table): a database made then is stamped at its version and upgraded from
there. A new revision: change the models in ``store.py``, then
``alembic.command.revision(alembic_config(), "what changed", rev_id="0006_...")`` writes the
file (from ``script.py.mako``) to fill in with ``op`` calls that work on SQLite and PostgreSQL
(``batch_alter_table`` for changes SQLite can only make by rebuilding a table);
tests/test_lab_migrations.py checks that the models and the migrated schema agree.
"""
