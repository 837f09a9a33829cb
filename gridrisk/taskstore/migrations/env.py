"""Alembic environment: runs on the connection ``PostgresDialect.migrate`` hands over."""

from __future__ import annotations

from alembic import context


def run_migrations() -> None:
    config = context.config
    context.configure(connection=config.attributes["connection"],
                      version_table_schema=config.attributes["schema"],
                      transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()


try:
    context.config  # noqa: B018 — raises outside an alembic run
except (NameError, AttributeError):  # imported outside alembic (e.g. by doctest collection)
    pass
else:
    run_migrations()
