"""Metadata helpers shared by the model assets (numbers the UI plots, pictures it shows)."""

import dagster as dg
import numpy as np

from orchestration.ml import plots


def float_metadata(values: dict[str, float | None]) -> dict[str, dg.MetadataValue]:
    """Finite numbers as float metadata (Dagster plots them across runs); None and NaN are left out."""
    return {k: dg.MetadataValue.float(float(v)) for k, v in values.items() if v is not None and np.isfinite(v)}


def png_metadata(png: bytes, alt: str) -> dg.MetadataValue:
    """A PNG shown inline in the UI (markdown with a data URI)."""
    return dg.MetadataValue.md(plots.png_markdown(png, alt))
