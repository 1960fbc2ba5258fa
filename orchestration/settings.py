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
    #: the analysts' copy of the marts (orchestration/publish.py) and the report built from it
    published_path: Path
    report_path: Path

    @classmethod
    def from_env(cls) -> Paths:
        data = Path(os.environ.get("C360_DATA_DIR", PROJECT_ROOT / "data")).resolve()
        warehouse = Path(os.environ.get("C360_WAREHOUSE_PATH", data / "warehouse.duckdb")).resolve()
        return cls(
            data_dir=data,
            landing_dir=Path(os.environ.get("C360_LANDING_DIR", data / "landing")).resolve(),
            warehouse_path=warehouse,
            ground_truth_dir=Path(os.environ.get("C360_GROUND_TRUTH_DIR", data / "ground_truth")).resolve(),
            exports_dir=Path(os.environ.get("C360_EXPORTS_DIR", data / "exports")).resolve(),
            gx_docs_dir=Path(os.environ.get("C360_GX_DOCS_DIR", data / "gx_docs")).resolve(),
            models_dir=Path(os.environ.get("C360_MODELS_DIR", data / "models")).resolve(),
            published_path=published_path_for(warehouse),
            report_path=report_path_for(warehouse),
        )


def published_path_for(warehouse_path: str | Path) -> Path:
    """Where the published copy of ``warehouse_path`` goes: ``C360_PUBLISHED_PATH``, else beside it.

    Derived from the warehouse (``<its folder>/published/c360.duckdb``) rather than from
    ``C360_DATA_DIR`` so that a test or a second deployment that points the warehouse
    elsewhere can never overwrite someone else's published copy.
    """
    default = Path(warehouse_path).resolve().parent / "published" / "c360.duckdb"
    return Path(os.environ.get("C360_PUBLISHED_PATH", default)).resolve()


def report_path_for(warehouse_path: str | Path) -> Path:
    """Where the HTML report goes: ``C360_REPORT_PATH``, else beside the published copy."""
    default = published_path_for(warehouse_path).parent / "report.html"
    return Path(os.environ.get("C360_REPORT_PATH", default)).resolve()


def expected_sources(all_sources: list[str] | tuple[str, ...]) -> frozenset[str]:
    """The sources this deployment expects deliveries of: ``C360_EXPECTED_SOURCES`` (comma list), else all.

    A source that is expected and has no delivery blocks its downstream (GX "row count ≥ 1"):
    silence from a feed is an incident. A deployment that only has some channels (the CDNOW
    demo has shop orders only) lists them, and the others pass as "not expected" instead.
    Unknown names are an error, so a typo cannot silently switch a gate off.
    """
    raw = os.environ.get("C360_EXPECTED_SOURCES", "").strip()
    if not raw:
        return frozenset(all_sources)
    names = frozenset(name.strip() for name in raw.split(",") if name.strip())
    unknown = sorted(names - set(all_sources))
    if unknown:
        raise ValueError(f"C360_EXPECTED_SOURCES names unknown source(s): {', '.join(unknown)}")
    return names
