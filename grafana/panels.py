"""The building blocks every dashboard shares: the template variables, the datasource reference,
selectors filtered by those variables, and panel constructors that cannot be called without a
title, a description, a unit and a query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.variants import Dataquery
from grafana_foundation_sdk.models import common, dashboard
from grafana_foundation_sdk.models.common import DataSourceRef

DATASOURCE_UID = "amc-prometheus"
"""The provisioned Prometheus (``grafana/provisioning/datasources/amc.yml``)."""
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
ALL = ".+"
"""The value of the job and instance variables' "All"."""
FILTER = 'job=~"$job", instance=~"$instance"'
UP_DOWN = {0: ("down", "red"), 1: ("up", "green")}
"""The value mappings of a 0/1 up metric (``up``, ``amc_platform_up``...)."""

P = TypeVar("P", timeseries.Panel, stat.Panel, statetimeline.Panel)
AnyPanel = timeseries.Panel | stat.Panel | statetimeline.Panel


def sel(name: str, *matchers: str) -> str:
    """The selector of ``name`` on the chosen jobs and instances, with further ``matchers``."""
    return name + "{" + ", ".join([FILTER, *matchers]) + "}"


def rate(name: str, *matchers: str) -> str:
    """``rate`` of a counter over Grafana's rate interval, on the chosen jobs and instances."""
    return f"rate({sel(name, *matchers)}[$__rate_interval])"


def by(labels: str, expr: str, how: str = "sum") -> str:
    """``expr`` aggregated with ``how`` (sum, max, count...) by ``labels``."""
    return f"{how} by ({labels}) ({expr})"


def per_minute(labels: str, counter: str, how: str = "sum") -> str:
    """The per-minute rate of ``counter``, aggregated with ``how`` by ``labels``."""
    return by(labels, rate(counter), how) + " * 60"


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel and how its series are named."""

    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Look:
    """What every panel states: title, description, unit."""

    title: str
    description: str
    unit: str
    width: int = 12
    height: int = 8
    queries: Sequence[Query] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not (self.title and self.description and self.unit and self.queries):
            raise ValueError(f"panel {self.title!r}: title, description, unit and a query")


def _targets(queries: Sequence[Query]) -> list[cogbuilder.Builder[Dataquery]]:
    targets: list[cogbuilder.Builder[Dataquery]] = []
    for index, query in enumerate(queries):
        target = (
            prometheus.Dataquery()
            .datasource(DATASOURCE)
            .expr(query.expr)
            .legend_format(query.legend or "__auto")
            .ref_id(chr(ord("A") + index))
        )
        targets.append(target.instant() if query.instant else target.range())
    return targets


def _common(panel: P, look: Look) -> P:
    return (
        panel.title(look.title)
        .description(look.description)
        .datasource(DATASOURCE)
        .span(look.width)
        .height(look.height)
        .targets(_targets(look.queries))
    )


def graph(
    title: str,
    description: str,
    unit: str,
    *queries: Query,
    width: int = 12,
    height: int = 8,
    minimum: float | None = 0,
    maximum: float | None = None,
) -> timeseries.Panel:
    """A time series panel of ``queries``, from ``minimum`` (0; None: Grafana's choice)."""
    look = Look(title, description, unit, width, height, queries)
    panel = (
        timeseries.Panel()
        .unit(look.unit)
        .legend(
            common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
        )
    )
    if minimum is not None:
        panel = panel.min(minimum)
    if maximum is not None:
        panel = panel.max(maximum)
    return _common(panel, look)


def single(
    title: str,
    description: str,
    unit: str,
    expr: str,
    legend: str = "",
    *,
    width: int = 12,
    height: int = 8,
) -> stat.Panel:
    """A stat panel of one instant query: the latest value of each of its series."""
    look = Look(title, description, unit, width, height, [Query(expr, legend, instant=True)])
    panel = (
        stat.Panel()
        .unit(look.unit)
        .graph_mode(common.BigValueGraphMode.NONE)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
    )
    return _common(panel, look)


def timeline(
    title: str,
    description: str,
    states: dict[int, tuple[str, str]],
    *queries: Query,
    width: int = 12,
    height: int = 8,
) -> statetimeline.Panel:
    """A state timeline of ``queries`` (unit none), ``states`` mapping values to (text, colour)."""
    look = Look(title, description, "none", width, height, queries)
    mapping = dashboard.ValueMap(
        options={
            str(value): dashboard.ValueMappingResult(text=text, color=color, index=index)
            for index, (value, (text, color)) in enumerate(sorted(states.items()))
        }
    )
    panel = (
        statetimeline.Panel()
        .unit(look.unit)
        .mappings([mapping])
        .show_value(common.VisibilityMode.AUTO)
        .merge_values(True)
        .color_scheme(builders.FieldColor().mode(dashboard.FieldColorModeId.THRESHOLDS))
    )
    return _common(panel, look)


def variables() -> list[cogbuilder.Builder[dashboard.VariableModel]]:
    """The data source, job and instance variables, the same on every dashboard."""
    job = (
        builders.QueryVariable("job")
        .label("Job")
        .description("Scrape jobs (amc-exporter, amc-remediator, amc-mtail, prometheus...).")
        .datasource(DATASOURCE)
        .query("label_values(up, job)")
        .definition("label_values(up, job)")
    )
    instance = (
        builders.QueryVariable("instance")
        .label("Instance")
        .description("Scrape targets of the chosen jobs.")
        .datasource(DATASOURCE)
        .query('label_values(up{job=~"$job"}, instance)')
        .definition('label_values(up{job=~"$job"}, instance)')
    )
    chosen = [
        variable.refresh(dashboard.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True)
        .include_all(True)
        .all_value(ALL)
        .sort(dashboard.VariableSort.ALPHABETICAL_ASC)
        .current(dashboard.VariableOption(selected=True, text="All", value="$__all"))
        for variable in (job, instance)
    ]
    datasource = (
        builders.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .current(
            dashboard.VariableOption(selected=True, text="AMC Prometheus", value=DATASOURCE_UID)
        )
    )
    return [datasource, *chosen]


def build(
    uid: str,
    title: str,
    description: str,
    rows: Sequence[tuple[str, Sequence[AnyPanel]]],
    annotations: Sequence[cogbuilder.Builder[dashboard.AnnotationQuery]] = (),
) -> dashboard.Dashboard:
    """A dashboard of ``rows`` in reading order, with stable panel ids."""
    board = (
        builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["amc"])
        .editable()
        .tooltip(dashboard.DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .variables(variables())
        .annotations(list(annotations))
        .link(
            builders.DashboardLink("AMC dashboards")
            .type(dashboard.DashboardLinkType.DASHBOARDS)
            .tags(["amc"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )
    next_id = 1
    for row_title, panels in rows:
        board = board.with_row(builders.Row(row_title).id(next_id))
        next_id += 1
        for panel in panels:
            board = board.with_panel(panel.id(next_id))
            next_id += 1
    return board.build()


def annotation(
    name: str, expr: str, title: str, text: str, colour: str
) -> cogbuilder.Builder[dashboard.AnnotationQuery]:
    """An annotation from a PromQL query: one mark where it has a value."""
    return (
        builders.AnnotationQuery()
        .name(name)
        .datasource(DATASOURCE)
        .enable(True)
        .icon_color(colour)
        .expr(expr)
        .step("60s")
        .title_format(title)
        .text_format(text)
        .use_value_for_time(False)
    )
