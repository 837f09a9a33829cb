"""Upgrade a PostgreSQL task store to the newest migration: ``python -m gridrisk.taskstore.migrations DSN``."""

from __future__ import annotations

import argparse

from gridrisk.taskstore import open_store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gridrisk.taskstore.migrations")
    parser.add_argument("dsn", help="postgresql://user@host:port/db (password from PGPASSWORD)")
    parser.add_argument("--schema", default="gridrisk")
    args = parser.parse_args(argv)
    print(open_store(args.dsn, pg_schema=args.schema))  # opening upgrades to head
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
