"""Small helpers for Python assets that read and write customer-grain warehouse tables."""

from __future__ import annotations

import re

import duckdb
import pandas as pd

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def replace_table(con: duckdb.DuckDBPyConnection, schema: str, table: str, frame: pd.DataFrame) -> int:
    """Replace ``schema.table`` with ``frame`` in one transaction; returns the row count.

    Readers see the old table or the new one, never a half-written one, and a rerun
    converges to the same state (the asset owns the table outright).
    """
    if not (_NAME.match(schema) and _NAME.match(table)):
        raise ValueError(f"not a plain table name: {schema}.{table}")
    con.register("_frame", frame)
    try:
        con.execute("begin transaction")
        con.execute(f"create schema if not exists {schema}")
        con.execute(f"create or replace table {schema}.{table} as select * from _frame")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_frame")
    return len(frame)
