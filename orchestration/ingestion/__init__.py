"""Loss-free ingestion of landing files into the raw layer (see ``loader``)."""

from orchestration.ingestion.loader import (
    LINEAGE_COLUMNS,
    FileLoad,
    SourceLoad,
    ensure_raw_tables,
    landing_files,
    load_file,
    load_source,
)

__all__ = [
    "LINEAGE_COLUMNS",
    "FileLoad",
    "SourceLoad",
    "ensure_raw_tables",
    "landing_files",
    "load_file",
    "load_source",
]
