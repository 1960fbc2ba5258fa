"""Where c360 keeps its files: every path has an embedded default and an env var override.

The defaults put everything under ``<project>/data`` so that a fresh clone works with
no configuration; a deployment points the variables elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"


@dataclass(frozen=True)
class Paths:
    data_dir: Path
    landing_dir: Path
    warehouse_path: Path
    ground_truth_dir: Path
    exports_dir: Path
    gx_docs_dir: Path
    models_dir: Path

    @classmethod
    def from_env(cls) -> Paths:
        data = Path(os.environ.get("C360_DATA_DIR", PROJECT_ROOT / "data")).resolve()
        return cls(
            data_dir=data,
            landing_dir=Path(os.environ.get("C360_LANDING_DIR", data / "landing")).resolve(),
            warehouse_path=Path(os.environ.get("C360_WAREHOUSE_PATH", data / "warehouse.duckdb")).resolve(),
            ground_truth_dir=Path(os.environ.get("C360_GROUND_TRUTH_DIR", data / "ground_truth")).resolve(),
            exports_dir=Path(os.environ.get("C360_EXPORTS_DIR", data / "exports")).resolve(),
            gx_docs_dir=Path(os.environ.get("C360_GX_DOCS_DIR", data / "gx_docs")).resolve(),
            models_dir=Path(os.environ.get("C360_MODELS_DIR", data / "models")).resolve(),
        )
