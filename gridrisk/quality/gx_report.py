"""GX reporting: the only module that imports ``great_expectations``.

:func:`validate` turns the checks into GX 1.x expectations, validates a DataFrame that already
went through :func:`gridrisk.quality.row_flags.add_helpers` and returns plain Python
(:class:`SuiteOutcome`). With a :class:`DocsSite` it also publishes the run to Data Docs:

- **kept runs**: the (masked) validation result and the suite are written to file stores
  beside the site (``DocsSite.store_dir``), and only the new pages plus the index are
  rendered — so every suite of every day stays listed, not just the last suite validated;
- **offline**: GX's pages load Bootstrap, jQuery, Font Awesome, bootstrap-table and Vega from
  CDNs; the copies vendored in ``gridrisk/quality/static/vendor`` are copied into the site and
  every written page's links are rewritten to them (see ``VENDOR_MAP``);
- **dates**: the run name is the logical date, the batch markers carry it, and run times are
  shown in Beijing time with ``+08:00`` (GX labels any time ``Z``);
- **privacy**: the sample values GX collects (``partial_unexpected_list`` …) are masked with
  the caller's :data:`~gridrisk.quality.masking.Masker` before anything is stored or rendered.

Several processes may validate different datasets at once (Airflow): the store writes are one
file per result, and publishing the site holds an exclusive lock on ``<site>/.gridrisk.lock``.
Within a process, GX's contexts are not made for threads: every use of them here holds
:data:`GX_LOCK` (only this, so a caller's threads share the rest of their work).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
from great_expectations.core.expectation_suite import ExpectationSuite  # noqa: E402
from great_expectations.core.expectation_validation_result import (  # noqa: E402
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.types.base import (  # noqa: E402
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.data_context.types.resource_identifiers import (  # noqa: E402
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.expectations.expectation import Expectation  # noqa: E402
from great_expectations.expectations.row_conditions import Column as GxColumn  # noqa: E402
from great_expectations.expectations.row_conditions import Condition  # noqa: E402
from great_expectations.render.renderer.page_renderer import ValidationResultsPageRenderer  # noqa: E402
from great_expectations.render.renderer.site_builder import SiteBuilder  # noqa: E402
from great_expectations.render.renderer.site_index_page_renderer import SiteIndexPageRenderer  # noqa: E402

from gridrisk.quality.checks import DEFAULT_REJECTED_ID_STATUSES, Check  # noqa: E402
from gridrisk.quality.masking import Masker  # noqa: E402

if TYPE_CHECKING:
    from great_expectations.data_context.data_context.abstract_data_context import AbstractDataContext
    from pyspark.sql import DataFrame

#: Beijing time: run times are shown here with their offset, never as ``Z``.
DISPLAY_TZ = ZoneInfo("Asia/Shanghai")
SITE_NAME = "gridrisk"
#: The index lists the newest runs (~4 months of 17 suites a day): GX reads every listed result
#: on each build. Older pages stay on disk under ``validations/``; nothing is deleted.
INDEX_RUNS = 2000
VALIDATIONS_STORE = "gridrisk_validations"
SUITES_STORE = "gridrisk_suites"
#: Keys of a GX result that hold sample values of the validated column(s).
VALUE_KEYS = ("partial_unexpected_list", "unexpected_list", "partial_unexpected_index_list", "unexpected_index_list")
STATIC_DIR = Path(__file__).parent / "static" / "vendor"
#: CDN address in GX's templates → the vendored copy under ``<site>/static/vendor/``.
VENDOR_MAP: dict[str, str] = {
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/bootstrap-table.min.css",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/css/bootstrap.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/css/bootstrap-datepicker.min.css",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "bootstrap-dark/bootstrap-prefers-dark.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega/vega-embed.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome/css/all.min.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper/popper.min.js",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/js/bootstrap.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/js/bootstrap-datepicker.min.js",
}
#: GX's logo and images come from its web bucket; the same files ship in the package (static/images).
GX_IMAGES_URL = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
#: Subresource integrity and CORS mode make a browser refuse a script loaded from ``file://``.
_SRI = re.compile(r'\s+(?:integrity="[^"]*"|crossorigin="[^"]*")')
_LINK = re.compile(r'(?P<attr>(?:src|href)=")(?P<url>https?://[^"]+)"')
_STATIC = re.compile(r'(?P<attr>(?:src|href)=")(?:\./|(?:\.\./)+)?static/')
_GX_IMAGE = re.compile(re.escape(GX_IMAGES_URL) + r"(?P<file>[\w.-]+)")
_log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- outcomes


@dataclass
class ExpectationOutcome:
    name: str
    level: str
    origin: str
    success: bool | None  # None: skipped (e.g. reference table missing)
    unexpected_count: int | None = None
    element_count: int | None = None
    unexpected_values: list[Any] = field(default_factory=list)
    threshold: float | None = None
    observed: Any = None
    note: str = ""


@dataclass
class SuiteOutcome:
    suite: str
    success: bool  # GX's own verdict over every expectation (row ones have no tolerance)
    expectations: list[ExpectationOutcome]
    data_docs: str | None = None

    def by_name(self) -> dict[str, ExpectationOutcome]:
        return {e.name: e for e in self.expectations}


@dataclass(frozen=True)
class DocsSite:
    """Where Data Docs live: the HTML site and, beside it, the stores of every run it lists."""

    site_dir: Path
    store_dir: Path

    @property
    def index(self) -> Path:
        return self.site_dir / "index.html"


# --------------------------------------------------------------------------- checks → GX


def _row_condition(check: Check) -> Condition | None:
    cond: Condition | None = None
    for col, values in check.only_when.items():
        part = GxColumn(col).is_in(list(values))
        cond = part if cond is None else cond & part
    return cond


def gx_expectation(check: Check, columns: set[str]) -> Expectation | None:
    """The GX 1.x expectation object for one check (or None when it cannot run)."""
    E = gx.expectations
    p = check.params
    common: dict[str, Any] = {"meta": {"gridrisk_name": check.name, "level": check.level, "origin": check.origin,
                                       "description": check.description}}
    if check.level == "batch" and check.threshold is not None:
        common["mostly"] = check.threshold
    condition = _row_condition(check)
    if condition is not None:
        common["row_condition"] = condition
    if check.kind == "columns_present":
        return E.ExpectTableColumnsToMatchSet(column_set=list(p["columns"]), exact_match=False, meta=common["meta"])
    if check.kind == "type":
        return E.ExpectColumnValuesToBeOfType(column=str(check.column), type_=str(p["type"]), meta=common["meta"])
    if check.kind == "not_null":
        return E.ExpectColumnValuesToNotBeNull(column=str(check.column), **common)
    if check.kind == "in_set":
        return E.ExpectColumnValuesToBeInSet(column=str(check.column), value_set=list(p["values"]), **common)
    if check.kind == "regex":
        return E.ExpectColumnValuesToMatchRegex(column=str(check.column), regex=str(p["regex"]), **common)
    if check.kind == "between":
        return E.ExpectColumnValuesToBeBetween(column=str(check.column), min_value=p.get("min"), max_value=p.get("max"),
                                               **common)
    if check.kind == "id_valid":
        return E.ExpectColumnValuesToNotBeInSet(column=check.helper, **common,
                                                value_set=list(p.get("reject", DEFAULT_REJECTED_ID_STATUSES)))
    if check.kind in ("birth_date_matches_id", "date_window", "exists_in"):
        if check.helper not in columns:
            return None
        return E.ExpectColumnValuesToBeInSet(column=check.helper, value_set=[True], **common)
    if check.kind == "not_before":
        return E.ExpectColumnPairValuesAToBeGreaterThanB(column_A=str(check.column), column_B=str(p["before"]),
                                                         or_equal=True, ignore_row_if="either_value_is_missing", **common)
    if check.kind == "unique_key":
        cols = [str(c) for c in p["columns"]]
        if len(cols) == 1:
            return E.ExpectColumnValuesToBeUnique(column=cols[0], **common)
        return E.ExpectCompoundColumnsToBeUnique(column_list=cols, **common)
    raise ValueError(f"{check.name}: unknown kind {check.kind}")


def mask_result(result: ExpectationSuiteValidationResult, masker: Masker) -> None:
    """Mask, in place, every sample value GX collected (lists, counts, observed values)."""
    for r in result.results:
        name = (r.expectation_config.meta or {}).get("gridrisk_name") if r.expectation_config else None
        if not name or not r.result:
            continue
        res = r.result
        for key in VALUE_KEYS:
            if res.get(key):
                res[key] = [masker(name, v) for v in res[key]]
        if res.get("partial_unexpected_counts"):
            res["partial_unexpected_counts"] = [{**c, "value": masker(name, c.get("value"))}
                                                for c in res["partial_unexpected_counts"]]
        if "observed_value" in res and isinstance(res["observed_value"], str):
            res["observed_value"] = masker(name, res["observed_value"])


def _outcome(r: ExpectationValidationResult, check: Check, sample: int) -> ExpectationOutcome:
    res = r.result or {}
    err = (r.exception_info or {}).get("exception_message") if r.exception_info else None
    return ExpectationOutcome(
        check.name, check.level, check.origin, bool(r.success), res.get("unexpected_count"), res.get("element_count"),
        list(res.get("partial_unexpected_list") or [])[:sample], check.threshold, res.get("observed_value"),
        note=f"error: {err}" if err and not r.success else "")


@dataclass
class DocsRun:
    """The Data Docs pages of one run, rendered together: :func:`validate` stores each result
    and its suite (masked) and notes their keys here; :meth:`publish` renders their pages and
    the index once. Rendering per suite re-read every stored result for the index and reloaded
    GX's templates each time — most of a small table's quality step."""

    site: DocsSite
    keys: list[Any] = field(default_factory=list)

    def publish(self) -> Path | None:
        """Render the pages of every result noted since the last call, and the index (once)."""
        if not self.keys:
            return None
        keys, self.keys = self.keys, []
        with GX_LOCK, _site_lock(self.site.site_dir):
            _build(_context(self.site), self.site, keys)
        return self.site.index


#: One GX context per site (and one without) for the whole process: creating a context and
#: its Spark datasource for every suite costs more than a small table's validation.
_CONTEXTS: dict[DocsSite | None, AbstractDataContext] = {}
#: Held by every use of a GX context in this process (contexts, suites and stores are not thread-safe).
GX_LOCK = threading.RLock()


def _context(site: DocsSite | None) -> AbstractDataContext:
    """The process's in-memory context for ``site`` (built on first use); with a site, plus the
    two file stores the site is built from."""
    if site not in _CONTEXTS:
        _CONTEXTS[site] = _new_context(site)
    return _CONTEXTS[site]


def _new_context(site: DocsSite | None) -> AbstractDataContext:
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False))
    ctx = gx.get_context(project_config=config, mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    if site is not None:
        for name, cls, sub in ((VALIDATIONS_STORE, "ValidationResultsStore", "validations"),
                               (SUITES_STORE, "ExpectationsStore", "expectations")):
            ctx.add_store(name, {"class_name": cls, "store_backend": {
                "class_name": "TupleFilesystemStoreBackend", "base_directory": str(site.store_dir / sub)}})
    return ctx


def _batch_definition(ctx: AbstractDataContext, suite_name: str) -> Any:
    """The whole-DataFrame batch definition of ``suite_name``'s asset (added on first use)."""
    source: Any
    try:
        source = ctx.data_sources.get("gridrisk")
    except (KeyError, ValueError, LookupError):
        source = ctx.data_sources.add_spark("gridrisk")
    try:
        asset = source.get_asset(suite_name)
    except LookupError:
        asset = source.add_dataframe_asset(suite_name)
    try:
        return asset.get_batch_definition("whole")
    except (KeyError, ValueError, LookupError):
        return asset.add_batch_definition_whole_dataframe("whole")


def validate(df: DataFrame, suite_name: str, checks: list[Check], ds: str, site: DocsSite | None = None,
             masker: Masker | None = None, batch_markers: Mapping[str, Any] | None = None,
             sample: int = 5, docs: DocsRun | None = None) -> SuiteOutcome:
    """Validate ``df`` (already through ``add_helpers``) with GX; publish it to ``site`` if given
    (with ``docs``, a :class:`DocsRun` of that site: stored now, rendered by ``docs.publish()``).

    ``ds`` is the logical date: the run's name and a batch marker. Sample values are masked with
    ``masker`` before they are returned, stored or rendered. Returns plain Python: per
    expectation its name, success, unexpected count and a few (masked) values.
    """
    if docs is not None and docs.site != site:
        raise ValueError(f"docs collects pages for {docs.site.site_dir}, not {site}")
    with GX_LOCK:
        return _validate(df, suite_name, checks, ds, site, masker, batch_markers, sample, docs)


def _validate(df: DataFrame, suite_name: str, checks: list[Check], ds: str, site: DocsSite | None,
              masker: Masker | None, batch_markers: Mapping[str, Any] | None, sample: int,
              docs: DocsRun | None) -> SuiteOutcome:
    ctx = _context(site)
    batch_def = _batch_definition(ctx, suite_name)
    suite = ctx.suites.add_or_update(ExpectationSuite(name=suite_name, meta={"logical_date": ds}))
    columns = set(df.columns)
    skipped: list[ExpectationOutcome] = []
    for c in checks:
        exp = gx_expectation(c, columns)
        if exp is None:
            skipped.append(ExpectationOutcome(c.name, c.level, c.origin, None, threshold=c.threshold,
                                              note=f"skipped: reference {c.params.get('reference')} not available"))
        else:
            suite.add_expectation(exp)
    vd = ctx.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=f"{suite_name} {ds}", data=batch_def, suite=suite))
    run_id = RunIdentifier(run_name=ds, run_time=dt.datetime.now(DISPLAY_TZ))
    result = vd.run(batch_parameters={"dataframe": df}, run_id=run_id,
                    result_format={"result_format": "SUMMARY", "partial_unexpected_count": sample})
    meta = cast(dict[str, Any], result.meta)  # GX types meta as its own keys; it is a plain dict
    meta["batch_markers"] = {"logical_date": ds, **(batch_markers or {})}
    meta["logical_date"] = ds
    if masker is not None:
        mask_result(result, masker)
    by_name = {c.name: c for c in checks}
    outcomes = [_outcome(r, by_name[r.expectation_config.meta["gridrisk_name"]], sample)
                for r in result.results if r.expectation_config is not None and r.expectation_config.meta]
    order = {c.name: i for i, c in enumerate(checks)}
    outcomes = sorted(outcomes + skipped, key=lambda o: order[o.name])
    page = None
    if site is not None:
        page = str(site.index)
        if docs is not None:
            with _site_lock(site.site_dir):
                docs.keys += _store(ctx, suite, result, ds)
        else:
            publish(ctx, site, suite, result, ds)
    return SuiteOutcome(suite_name, bool(result.success), outcomes, page)


# --------------------------------------------------------------------------- Data Docs


def _shown_time(value: Any) -> str:
    """A run time in Beijing time with its offset, e.g. ``2026-11-01 18:02:03 +08:00``."""
    when = value.run_time if isinstance(value, RunIdentifier) else value
    if isinstance(value, dict):
        when = value.get("run_time")
    if isinstance(when, str):
        when = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    if not isinstance(when, dt.datetime):
        return "__none__"
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(DISPLAY_TZ).isoformat(sep=" ", timespec="seconds")


def _run_name(run_id: Any) -> str:
    if isinstance(run_id, RunIdentifier):
        return run_id.run_name or "__none__"
    if isinstance(run_id, dict):
        return str(run_id.get("run_name") or "__none__")
    return str(run_id or "__none__")


class LogicalDateValidationPageRenderer(ValidationResultsPageRenderer):
    """GX's validation page with Beijing run times (``+08:00``, not ``Z``) and the logical date."""

    def _parse_run_values(self, validation_results: ExpectationSuiteValidationResult) -> tuple[str, str]:
        run_id = validation_results.meta.get("run_id")
        return _run_name(run_id), _shown_time(run_id)

    @classmethod
    def _render_validation_info(cls, validation_results: ExpectationSuiteValidationResult) -> Any:
        info = super()._render_validation_info(validation_results)
        run_id = validation_results.meta.get("run_id")
        rows = [row for row in info.table if row[0] not in ("Run Name", "Run Time")]
        info.table = [*rows, ["Logical date", str(validation_results.meta.get("logical_date", "__none__"))],
                      ["Run Name", _run_name(run_id)], ["Run Time (Beijing)", _shown_time(run_id)]]
        return info


class BeijingSiteIndexPageRenderer(SiteIndexPageRenderer):
    """GX's index page with run times in Beijing time (GX uses the machine's zone)."""

    @classmethod
    def _get_formatted_datetime(cls, _datetime: Any) -> str | None:
        return None if _datetime is None else _shown_time(_datetime)


@contextmanager
def _site_lock(site_dir: Path) -> Iterator[None]:
    site_dir.mkdir(parents=True, exist_ok=True)
    with open(site_dir / ".gridrisk.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _site_builder(ctx: AbstractDataContext, site: DocsSite) -> SiteBuilder:
    here = __name__
    return SiteBuilder(
        data_context=ctx,
        store_backend={"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site.site_dir)},
        site_name=SITE_NAME,
        show_how_to_buttons=False,
        site_index_builder={"class_name": "DefaultSiteIndexBuilder", "show_cta_footer": False,
                            "validation_results_limit": INDEX_RUNS,
                            "renderer": {"module_name": here, "class_name": BeijingSiteIndexPageRenderer.__name__}},
        site_section_builders={
            "expectations": {"source_store_name": SUITES_STORE},
            "validations": {"source_store_name": VALIDATIONS_STORE,
                            "renderer": {"module_name": here, "class_name": LogicalDateValidationPageRenderer.__name__}},
            "profiling": "None",
        },
    )


def publish(ctx: AbstractDataContext, site: DocsSite, suite: ExpectationSuite,
            result: ExpectationSuiteValidationResult, ds: str) -> Path:
    """Store the (already masked) result and its suite, render their pages and the index, offline."""
    with _site_lock(site.site_dir):
        _build(ctx, site, _store(ctx, suite, result, ds))
    return site.index


def _store(ctx: AbstractDataContext, suite: ExpectationSuite, result: ExpectationSuiteValidationResult,
           ds: str) -> list[Any]:
    """Write the (masked) result and its suite to the site's stores; their keys."""
    suite_key = ExpectationSuiteIdentifier(name=suite.name)
    key = ValidationResultIdentifier(expectation_suite_identifier=suite_key, run_id=result.meta["run_id"],
                                     batch_identifier=f"ds={ds}")
    ctx.stores[SUITES_STORE].set(suite_key, suite)
    ctx.stores[VALIDATIONS_STORE].set(key, result)
    return [key, suite_key]


def _build(ctx: AbstractDataContext, site: DocsSite, keys: list[Any]) -> None:
    """Render the pages of ``keys`` and the index, offline (the caller holds the site lock)."""
    started = time.time()
    _site_builder(ctx, site).build(resource_identifiers=list(dict.fromkeys(keys)))
    install_vendor_assets(site.site_dir)
    for page in site.site_dir.rglob("*.html"):
        if page.stat().st_mtime >= started - 1:
            localise_page(page, site.site_dir)


def install_vendor_assets(site_dir: Path) -> None:
    """Copy the vendored front-end files into ``<site>/static/vendor`` (once; kept up to date)."""
    target = site_dir / "static" / "vendor"
    for src in STATIC_DIR.rglob("*"):
        if src.is_file():
            dst = target / src.relative_to(STATIC_DIR)
            if not dst.exists() or dst.stat().st_size != src.stat().st_size:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)


def localise_page(page: Path, site_dir: Path) -> None:
    """Point a page's CDN links at the site's vendored copies; drop SRI/CORS attributes.

    GX's logo images (navbar, the dark theme's CSS) point at its web bucket; the same files ship
    in its ``static/images``, and one that does not (the dark logo) falls back to the light one.
    """
    html = page.read_text(encoding="utf-8")
    up = "../" * (len(page.relative_to(site_dir).parts) - 1)
    images = site_dir / "static" / "images"

    def vendored(m: re.Match[str]) -> str:
        url = m.group("url")
        return f'{m.group("attr")}{up}static/vendor/{VENDOR_MAP[url]}"' if url in VENDOR_MAP else m.group(0)

    def image(m: re.Match[str]) -> str:
        name = m.group("file") if (images / m.group("file")).is_file() else "logo-long.png"
        return f"{up}static/images/{name}"

    out = _SRI.sub("", _GX_IMAGE.sub(image, _LINK.sub(vendored, html)))
    out = _STATIC.sub(lambda m: f'{m.group("attr")}{up}static/', out)  # GX counts some depths wrong (favicon)
    if out != html:
        page.write_text(out, encoding="utf-8")
