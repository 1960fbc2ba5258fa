"""Simulated right-to-erasure requests, chosen from the ground truth of a finished simulation.

Each request names ONE identifier of a person who left records in several channels, written
the way a person types it (upper-case e-mail, phone with dashes), so that the pipeline has
to normalise it and to find the person's other identifiers through identity resolution.
Persons are drawn among those whose identifiers are all their own (no household e-mail, no
store tablet): for them "every record of the person" is exact in the ground truth.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from orchestration.contracts import ERASURE_REQUESTS
from orchestration.sample_data.writer import FileStats

FILE_NAME = "erasure_requests_part0000.csv"
#: the identifier a request names, tried in this order (rotated per request)
REQUEST_TYPES = ("email", "phone", "member_id", "device_id", "account_id")


def _as_typed(identifier_type: str, value: str, i: int) -> str:
    """How a person would write the value: the pipeline must normalise it back."""
    if identifier_type == "email" and i % 2 == 0:
        return f" {value.upper()} "
    if identifier_type == "phone":
        digits = value.removeprefix("+86")
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    return value


def write_erasure_requests(n: int, seed: int, requested_at: datetime, landing: Path, gt: Path) -> FileStats:
    """Write ``landing/erasure_requests/<FILE_NAME>`` and ``gt/erasure_requests.parquet``."""
    identifiers = pd.read_parquet(gt / "identifiers.parquet")
    records = pd.read_parquet(gt / "records.parquet", columns=["source", "person_id"])
    per_person = identifiers.groupby("person_id").agg(
        types=("identifier_type", "nunique"), shared=("is_shared", "any"), junk=("is_junk", "any")
    )
    sources = records.groupby("person_id")["source"].nunique()
    # a value carried by several persons (even when not flagged) makes "the person" ambiguous
    owners = identifiers.groupby(["identifier_type", "identifier_value"])["person_id"].transform("nunique")
    multi = set(identifiers.loc[owners > 1, "person_id"])
    eligible = per_person[(per_person["types"] >= 3) & ~per_person["shared"] & ~per_person["junk"]].index
    eligible = sorted(p for p in eligible if sources.get(p, 0) >= 3 and p not in multi)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(9, 1)))
    chosen = sorted(rng.choice(eligible, size=min(n, len(eligible)), replace=False).tolist()) if eligible else []

    rows = []
    for i, person in enumerate(chosen):
        own = identifiers[identifiers["person_id"] == person].set_index("identifier_type")["identifier_value"]
        order = REQUEST_TYPES[i % len(REQUEST_TYPES):] + REQUEST_TYPES[: i % len(REQUEST_TYPES)]
        identifier_type = next(t for t in order if t in own.index)
        value = str(own.loc[[identifier_type]].iloc[0])
        rows.append({
            "request_id": f"ER{i + 1:06d}",
            "person_id": int(person),
            "identifier_type": identifier_type,
            "identifier_value": value,
            "requested_value": _as_typed(identifier_type, value, i),
            "requested_at": requested_at,
        })
    truth = pd.DataFrame(rows, columns=["request_id", "person_id", "identifier_type", "identifier_value",
                                        "requested_value", "requested_at"])
    truth.to_parquet(gt / "erasure_requests.parquet", index=False)

    folder = landing / ERASURE_REQUESTS.name
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / FILE_NAME).open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(ERASURE_REQUESTS.column_names)
        for r in rows:
            writer.writerow([r["request_id"], r["requested_at"].strftime("%Y-%m-%d %H:%M:%S"), r["identifier_type"],
                             r["requested_value"]])
    return FileStats(ERASURE_REQUESTS.name, FILE_NAME, data_rows=len(rows))
