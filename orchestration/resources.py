"""Dagster resources: the DuckDB warehouse and the dbt CLI."""

from __future__ import annotations

import os
import pickle
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource

from orchestration.settings import DBT_PROJECT_DIR, Paths

#: Every step that opens the warehouse file claims a slot of this pool. DuckDB allows one
#: writing process per file and a reader blocks a writer, so the instance limits it to 1
#: (see dagster.yaml); a run never fails on a lock held by a sibling step.
WAREHOUSE_POOL = "warehouse"


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file and the landing folder it is loaded from."""

    path: str
    landing_dir: str
    #: where export files (audiences) are written; empty: ``exports/`` beside the warehouse file
    exports_dir: str = ""
    memory_limit: str = "6GB"
    threads: int = 2
    lock_timeout_seconds: float = 120.0

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the warehouse, waiting (bounded) for a lock held outside Dagster's pool.

        Inside a run the pool serialises access; the wait covers a person who has the
        file open in a DuckDB shell. Past the timeout the lock error is raised as is.
        """
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_seconds
        while True:
            try:
                con = duckdb.connect(self.path, read_only=read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
        try:
            con.execute(f"set memory_limit = '{self.memory_limit}'")
            con.execute(f"set threads = {int(self.threads)}")
            con.execute("set preserve_insertion_order = true")
            yield con
        finally:
            con.close()


class ModelStore(dg.ConfigurableResource):
    """Trained models as files: one pickle per model name, replaced atomically.

    The pickle is written to a temporary file and renamed, so a crash mid-write never
    leaves a half model for the scoring asset to load.
    """

    path: str

    def save(self, name: str, model: object) -> Path:
        folder = Path(self.path)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name}.pkl"
        tmp = target.with_suffix(".pkl.tmp")
        with tmp.open("wb") as f:
            pickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, target)
        return target

    def load(self, name: str) -> Any:
        target = Path(self.path) / f"{name}.pkl"
        if not target.exists():
            raise FileNotFoundError(f"no trained model {name!r} in {self.path}: materialise its training asset first")
        with target.open("rb") as f:
            return pickle.load(f)  # our own artefact, written by save() above


def default_resources(paths: Paths | None = None) -> dict[str, object]:
    """Resources for a deployment, from env vars with embedded defaults."""
    paths = paths or Paths.from_env()
    return {
        "warehouse": WarehouseResource(
            path=str(paths.warehouse_path), landing_dir=str(paths.landing_dir), exports_dir=str(paths.exports_dir)
        ),
        "model_store": ModelStore(path=str(paths.models_dir)),
        "dbt": DbtCliResource(
            project_dir=str(DBT_PROJECT_DIR),
            profiles_dir=str(DBT_PROJECT_DIR),
            # The dbt installed beside this interpreter, so it works without an activated venv.
            dbt_executable=str(Path(sys.executable).with_name("dbt")),
        ),
    }
