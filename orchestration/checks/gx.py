"""Great Expectations 1.x on pandas batches: suites from JSON, a severity split, Data Docs.

This module knows GX and pandas only (no Dagster, no DuckDB), so every rule can be
unit-tested on a small DataFrame. A suite is a JSON file in ``expectations/`` whose
expectations each carry ``meta.severity`` (``critical`` stops downstream work, ``warning``
is reported) and ``meta.why``. :func:`validate_dataframe` runs one batch through an
ephemeral GX context (ValidationDefinition + Checkpoint with a Data Docs action) and
returns a small, JSON-serialisable :class:`BatchResult` that a caller can cache and render.

Things GX 1.24 does that shape the code here (measured on this machine):

- ``ExpectationSuite(expectations=[...])`` logs and *drops* an expectation it cannot
  build (unknown type, bad kwargs): :func:`load_suite` counts and refuses to go on.
- pandas 3 reads DuckDB VARCHAR as the ``str`` dtype, which no ``type_list`` entry of
  ``expect_column_values_to_be_in_type_list`` matches; string columns are handed to GX
  as ``object`` so each value is type-checked instead. ``expect_column_values_to_be_of_type``
  does not accept ``Int32Dtype`` where the type-list variant does, so suites use the latter.
- A date-only string bound (``"2015-01-01"``) is parsed as a ``date`` and every comparison
  with a datetime column then raises; bounds are passed as full ISO datetimes.
- Progress bars and analytics are on by default; both are switched off in the context config.
- Building Data Docs deletes every page whose result is not in the context's stores, so
  one ephemeral context per batch would erase all other pages: results are kept under
  ``<docs_dir>/.results`` and the index builder is told not to clean up.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import great_expectations as gx
import pandas as pd
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import MulticolumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import MulticolumnMapMetricProvider
from great_expectations.expectations.metrics.map_metric_provider.multicolumn_condition_partial import (
    multicolumn_condition_partial,
)
from great_expectations.render.renderer.site_builder import DefaultSiteIndexBuilder

log = logging.getLogger(__name__)

SEVERITIES = ("critical", "warning")
#: Part of every cache key: bump when the way a batch is validated here changes meaning.
ENGINE_VERSION = f"c360-gx-1/{gx.__version__}"
SAMPLE_SIZE = 10
DOCS_SITE = "c360"
#: validations listed on the Data Docs index page (newest first); older pages stay on disk
INDEX_LIMIT = 200


class NaturalKeyRowsIdentical(MulticolumnMapMetricProvider):
    """Row-wise: False where another row has the same key but different other values."""

    condition_metric_name = "multicolumn_values.natural_key_rows_identical"
    condition_domain_keys = ("batch_id", "table", "column_list", "row_condition", "condition_parser", "ignore_row_if")
    condition_value_keys = ("key_columns",)

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, key_columns: list[str], **kwargs: Any) -> pd.Series:
        keys = list(key_columns)
        versions = column_list.drop_duplicates()
        conflicting = versions.loc[versions.duplicated(keys, keep=False), keys]
        if conflicting.empty:
            return pd.Series(True, index=column_list.index)
        bad = pd.MultiIndex.from_frame(column_list[keys]).isin(pd.MultiIndex.from_frame(conflicting))
        return pd.Series(~bad, index=column_list.index)


class ExpectNaturalKeyDuplicatesToBeIdentical(MulticolumnMapExpectation):
    """Rows that share a natural key must agree on every column in ``column_list``.

    Raw may hold exact re-deliveries of a row (staging deduplicates those), but two
    different versions of the same order line cannot both be true: staging would have to
    guess. ``column_list`` names the key and the compared columns; ``key_columns`` the key.
    """

    key_columns: list[str]
    map_metric = "multicolumn_values.natural_key_rows_identical"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly", "key_columns")


@dataclass(frozen=True)
class Suite:
    """One suite JSON file: the expectations as plain dicts, and the c360 settings in its meta."""

    name: str
    expectations: tuple[dict[str, Any], ...]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> dict[str, Any]:
        return self.meta.get("c360", {})

    def with_expectations(self, extra: Iterable[dict[str, Any]]) -> Suite:
        """The suite plus expectations built at run time (e.g. a volume floor from history)."""
        return Suite(self.name, (*self.expectations, *extra), self.meta)

    def digest(self, parameters: Mapping[str, Any] | None = None) -> str:
        """A stable hash of what a validation with these parameters would check (a cache key part)."""
        body = {"engine": ENGINE_VERSION, "name": self.name, "expectations": self.expectations, "meta": self.meta,
                "parameters": dict(parameters or {})}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def columns(self) -> set[str]:
        """Every column any expectation names (to check suites against the contracts)."""
        names: set[str] = set()
        for exp in self.expectations:
            kw = exp["kwargs"]
            names.update(kw[k] for k in ("column", "column_A", "column_B") if k in kw)
            names.update(kw.get("column_list", []))
            names.update(kw.get("key_columns", []))
        return names

    def to_gx(self) -> gx.ExpectationSuite:
        """Build the GX suite; GX's own severity follows ``meta.severity`` so Data Docs agree."""
        exps = [{**copy.deepcopy(e), "severity": e["meta"]["severity"]} for e in self.expectations]
        suite = gx.ExpectationSuite(name=self.name, expectations=exps, meta=copy.deepcopy(self.meta))
        if len(suite.expectations) != len(exps):
            built = {e.expectation_type for e in suite.expectations}
            lost = sorted({e["type"] for e in exps} - built) or ["(see log: invalid kwargs)"]
            raise ValueError(f"suite {self.name}: GX could not build {len(exps) - len(suite.expectations)} "
                             f"expectation(s): {', '.join(lost)}")
        return suite


def load_suite(path: Path) -> Suite:
    """Read a suite JSON file and refuse it unless every expectation states severity and why."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read expectation suite {path}: {exc}") from exc
    if not isinstance(data, dict) or not data.get("name"):
        raise ValueError(f"{path.name} is not a GX suite: it needs a name and a list of expectations")
    suite = Suite(data["name"], tuple(data.get("expectations", [])), data.get("meta", {}))
    for i, exp in enumerate(suite.expectations):
        meta = exp.get("meta", {})
        if meta.get("severity") not in SEVERITIES or not meta.get("why"):
            raise ValueError(f"{path.name}: expectation {i} ({exp.get('type')}) needs meta.severity in "
                             f"{SEVERITIES} and a meta.why")
    suite.to_gx()  # fail now, not mid-run, if GX cannot build an expectation
    return suite


def time_parameters(suite: Suite, arrived_at: datetime) -> dict[str, str]:
    """Suite parameters for timestamp bounds: not before the business began, not after arrival.

    "Not in the future" is judged against when the batch arrived (plus a tolerance for
    clocks and time zones), not against the validation time, so a cached verdict stays true.
    """
    bounds = suite.settings.get("time_bounds", {})
    # A deployment whose history starts earlier (e.g. the 1997 CDNOW data) moves the floor
    # with C360_BUSINESS_START instead of editing every suite.
    earliest = pd.Timestamp(os.environ.get("C360_BUSINESS_START") or bounds.get("earliest", "2015-01-01"))
    tolerance = timedelta(hours=float(bounds.get("future_tolerance_hours", 24)))
    latest = (pd.Timestamp(arrived_at) + tolerance).floor("s")
    return {"earliest_timestamp": earliest.isoformat(), "latest_timestamp": latest.isoformat()}


@dataclass
class Failure:
    """One failed expectation in one batch, in the words a person needs to act on it."""

    expectation: str
    column: str
    severity: str
    rule: str
    why: str
    unexpected_count: int | None = None
    element_count: int | None = None
    observed: str | None = None
    sample: list[str] = field(default_factory=list)
    #: where the offending rows are: landed line numbers (raw files) or key values (marts)
    rows: list[int | str] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> str:
        """E.g. ``unit_price: expected ≥ 0; 2 of 50 rows, e.g. -5.0, -1.0 (rows 4, 9)``."""
        text = f"{self.column}: expected {self.rule}"
        if self.error:
            return f"{text}; could not be evaluated: {self.error}"
        if self.unexpected_count is not None:
            of = f" of {self.element_count}" if self.element_count is not None else ""
            text += f"; {self.unexpected_count}{of} row(s) fail"
        elif self.observed is not None:
            text += f"; observed {self.observed}"
        if self.sample:
            text += ", e.g. " + ", ".join(self.sample[:5])
        if self.rows:
            label = "rows" if all(isinstance(r, int) for r in self.rows) else "keys"
            text += f" ({label} " + ", ".join(map(str, self.rows[:5])) + ")"
        return text


@dataclass
class BatchResult:
    """The verdict on one batch (one landed file), cacheable as JSON."""

    batch: str
    rows: int
    evaluated: int
    failures: list[Failure] = field(default_factory=list)
    docs_url: str | None = None

    def failed(self, severity: str) -> list[Failure]:
        return [f for f in self.failures if f.severity == severity]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> BatchResult:
        data = json.loads(text)
        data["failures"] = [Failure(**f) for f in data["failures"]]
        return cls(**data)


class KeepingSiteIndexBuilder(DefaultSiteIndexBuilder):
    """GX's index builder, minus its clean-up.

    By default the index build deletes every page whose result is not in the context's own
    stores. Each batch is validated in a fresh ephemeral context, so that clean-up would
    erase the pages of every other file and source (and break the links the checks show).
    """

    def build(self, skip_and_clean_missing: bool = True, build_index: bool = True) -> Any:
        return super().build(skip_and_clean_missing=False, build_index=build_index)


def _context(docs_dir: Path | None) -> Any:
    """An ephemeral context; with ``docs_dir``, results are kept beside the docs so the index can list them."""
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    if docs_dir is not None:
        config.stores["validation_results_store"]["store_backend"] = {
            "class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir / ".results")}
    context = gx.get_context(mode="ephemeral", project_config=config)
    if docs_dir is not None:
        context.add_data_docs_site(DOCS_SITE, {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": KeepingSiteIndexBuilder.__name__, "module_name": __name__,
                                   "validation_results_limit": INDEX_LIMIT},
        })
    return context


def _for_gx(df: pd.DataFrame) -> pd.DataFrame:
    """pandas 3 string columns as ``object``, the only form GX 1.24's type checks understand."""
    text = [c for c in df.columns if isinstance(df[c].dtype, pd.StringDtype)]
    # assign() replaces only those columns: the caller's frame is untouched, the rest is not copied.
    return df.assign(**{c: df[c].astype(object).where(df[c].notna(), None) for c in text})


def validate_dataframe(
    df: pd.DataFrame,
    suite: Suite,
    *,
    batch_name: str,
    parameters: Mapping[str, Any] | None = None,
    docs_dir: Path | None = None,
    index_column: str = "_source_row",
) -> BatchResult:
    """Validate one batch with a GX Checkpoint; Data Docs for it go to ``docs_dir`` when given."""
    context = _context(docs_dir)
    gx_suite = context.suites.add(suite.to_gx())
    batch_def = (context.data_sources.add_pandas("c360").add_dataframe_asset(suite.name)
                 .add_batch_definition_whole_dataframe("batch"))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite.name}:{batch_name}", data=batch_def, suite=gx_suite)
    )
    result_format: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
    if index_column in df.columns:
        result_format["unexpected_index_column_names"] = [index_column]
    actions = [gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=[DOCS_SITE])] if docs_dir else []
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name=f"gate:{suite.name}", validation_definitions=[validation], actions=actions, result_format=result_format,
    ))
    outcome = checkpoint.run(
        batch_parameters={"dataframe": _for_gx(df)},
        expectation_parameters=dict(parameters or {}),
        run_id=RunIdentifier(run_name=batch_name),
    )
    key, suite_result = next(iter(outcome.run_results.items()))
    url = None
    if docs_dir is not None:
        url = context.get_docs_sites_urls(resource_identifier=key, site_names=[DOCS_SITE])[0]["site_url"]
    failures = [_failure(r, index_column) for r in suite_result.results if not r.success]
    failures.sort(key=lambda f: (SEVERITIES.index(f.severity), f.column, f.expectation))
    log.info("%s %s: %d expectations, %d failed", suite.name, batch_name, len(suite_result.results), len(failures))
    return BatchResult(batch_name, len(df), len(suite_result.results), failures, url)


def _failure(result: Any, index_column: str) -> Failure:
    cfg = result.expectation_config
    kwargs, meta, res = cfg.kwargs, cfg.meta or {}, result.result or {}
    error = _error_message(result.exception_info)
    sample = [_show(v) for v in res.get("partial_unexpected_list") or []]
    if "key_columns" in kwargs:
        sample = _conflicts(res.get("partial_unexpected_list") or [], kwargs["key_columns"])
    rows = [_position(d[index_column]) for d in res.get("partial_unexpected_index_list") or []
            if isinstance(d, dict) and d.get(index_column) is not None]
    observed = res.get("observed_value")
    return Failure(
        expectation=cfg.type,
        column=_columns(kwargs),
        severity=meta.get("severity", "critical"),
        rule=meta.get("rule") or _with_condition(describe_rule(cfg.type, kwargs), kwargs),
        why=meta.get("why", ""),
        unexpected_count=res.get("unexpected_count"),
        element_count=res.get("element_count"),
        observed=None if observed is None else _show(observed),
        sample=list(dict.fromkeys(sample)),
        rows=sorted(set(rows)),
        error=error,
    )


def _position(value: Any) -> int | str:
    """A landed line number stays a number; a mart's key value (e.g. a customer id) is shown as text."""
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    return value if isinstance(value, int) else str(value)


def _with_condition(rule: str, kwargs: Mapping[str, Any]) -> str:
    """A rule that applies to some rows only says so (``≥ 0 where order_type=="sale"``)."""
    condition = kwargs.get("row_condition")
    return f"{rule} where {condition}" if condition else rule


def _error_message(info: Any) -> str | None:
    """GX reports an exception either flat or keyed by metric; find the first message."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "exception")[:300]
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "exception")[:300]
    return None


def _columns(kwargs: Mapping[str, Any]) -> str:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_A" in kwargs:
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    if "key_columns" in kwargs:
        return ", ".join(kwargs["key_columns"])
    if "column_list" in kwargs:
        return ", ".join(kwargs["column_list"])
    return "(table)"


def _show(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple | list):  # a column pair's values
        return "(" + ", ".join(_show(v) for v in value) + ")"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    if isinstance(value, pd.Timestamp):
        return value.isoformat(sep=" ")
    if hasattr(value, "item"):  # numpy scalars
        return _show(value.item())
    return str(value)


def _conflicts(rows: list[dict[str, Any]], keys: list[str]) -> list[str]:
    """``order_id='O1', line_number=1: quantity 2 ≠ 3`` for each key with differing versions."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(_show(row.get(k)) for k in keys), []).append(row)
    out = []
    for key, versions in groups.items():
        others = [c for c in versions[0] if c not in keys]
        differ = [c for c in others if len({_show(v.get(c)) for v in versions}) > 1]
        diffs = "; ".join(f"{c} " + " ≠ ".join(dict.fromkeys(_show(v.get(c)) for v in versions)) for c in differ)
        label = ", ".join(f"{k}={v}" for k, v in zip(keys, key, strict=True))
        out.append(f"{label}: {diffs}" if diffs else label)
    return out


def describe_rule(kind: str, kw: Mapping[str, Any]) -> str:
    """What an expectation requires, in a few words (for descriptions and tables)."""
    lo, hi = kw.get("min_value"), kw.get("max_value")
    if kind.endswith("_to_be_between"):
        lower = f"{'>' if kw.get('strict_min') else '≥'} {_show(lo)}" if lo is not None else ""
        upper = f"{'<' if kw.get('strict_max') else '≤'} {_show(hi)}" if hi is not None else ""
        what = "row count " if kind.startswith("expect_table_row_count") else ""
        return what + " and ".join(p for p in (lower, upper) if p)
    rules = {
        "expect_column_to_exist": lambda: "the column to exist",
        "expect_column_values_to_not_be_null": lambda: "no nulls",
        "expect_column_values_to_be_unique": lambda: "unique values",
        "expect_compound_columns_to_be_unique": lambda: f"unique ({', '.join(kw['column_list'])})",
        "expect_natural_key_duplicates_to_be_identical": lambda: "rows sharing the natural key to be identical",
        "expect_column_values_to_be_in_set": lambda: "one of " + ", ".join(map(str, kw["value_set"])),
        "expect_column_values_to_not_be_in_set": lambda: "none of " + ", ".join(map(str, kw["value_set"])),
        "expect_column_values_to_match_regex": lambda: f"to match /{kw['regex']}/",
        "expect_column_values_to_be_in_type_list": lambda: "type " + " | ".join(kw["type_list"]),
        "expect_column_pair_values_a_to_be_greater_than_b": lambda: (
            f"{kw['column_A']} {'≥' if kw.get('or_equal') else '>'} {kw['column_B']}"
        ),
    }
    return rules[kind]() if kind in rules else kind.removeprefix("expect_").replace("_", " ")
