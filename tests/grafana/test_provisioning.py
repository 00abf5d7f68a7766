"""The provisioning files against Grafana's documented schema ("Provision Grafana": data
sources and dashboard providers, ``apiVersion: 1``): unknown keys are refused, as a typo
would otherwise be ignored by Grafana in silence."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from grafana.panels import DATASOURCE_UID
from tests.grafana.conftest import DASHBOARDS, PROJECT

PROVISIONING = PROJECT / "grafana" / "provisioning"


class Documented(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class DeleteDatasource(Documented):
    name: str
    orgId: int = 1


class Datasource(Documented):
    """A data source as the documentation lists its fields."""

    name: str
    type: str
    access: Literal["proxy", "direct"] = "proxy"
    orgId: int = 1
    uid: str | None = None
    url: str | None = None
    user: str | None = None
    database: str | None = None
    basicAuth: bool = False
    basicAuthUser: str | None = None
    withCredentials: bool = False
    isDefault: bool = False
    jsonData: dict[str, Any] = {}
    secureJsonData: dict[str, str] = {}
    version: int = 1
    editable: bool = False


class PrometheusJsonData(Documented):
    """The Prometheus data source's jsonData fields that these files use."""

    httpMethod: Literal["GET", "POST"] = "POST"
    timeInterval: str | None = None
    manageAlerts: bool | None = None
    prometheusType: str | None = None
    prometheusVersion: str | None = None


class Datasources(Documented):
    apiVersion: Literal[1]
    deleteDatasources: list[DeleteDatasource] = []
    prune: bool = False
    datasources: list[Datasource]


class ProviderOptions(Documented):
    path: str
    foldersFromFilesStructure: bool = False


class Provider(Documented):
    name: str
    orgId: int = 1
    folder: str = ""
    folderUid: str | None = None
    type: Literal["file"] = "file"
    disableDeletion: bool = False
    updateIntervalSeconds: int = 10
    allowUiUpdates: bool = False
    options: ProviderOptions


class Providers(Documented):
    apiVersion: Literal[1]
    providers: list[Provider]


def _load(kind: str) -> dict[str, Any]:
    return dict(yaml.safe_load((PROVISIONING / kind / "amc.yml").read_text()))


def test_the_datasource_file_is_grafanas_schema() -> None:
    parsed = Datasources.model_validate(_load("datasources"))
    [prometheus] = parsed.datasources
    assert (prometheus.type, prometheus.uid, prometheus.isDefault) == (
        "prometheus", DATASOURCE_UID, True)  # fmt: skip
    PrometheusJsonData.model_validate(prometheus.jsonData)
    assert prometheus.url == "$AMC_PROMETHEUS_URL"


def test_the_dashboard_provider_reads_the_dashboards_folder() -> None:
    parsed = Providers.model_validate(_load("dashboards"))
    [provider] = parsed.providers
    assert provider.options.path == "$AMC_GRAFANA_DASHBOARDS"
    assert sorted(p.name for p in DASHBOARDS.glob("*.json")) == [
        "amc-agent.json", "amc-automation.json", "amc-platform.json"]  # fmt: skip


def _typo(doc: dict[str, Any]) -> dict[str, Any]:
    key = "datasources" if "datasources" in doc else "providers"
    doc[key][0]["isdefault" if key == "datasources" else "disabledeletion"] = True
    return doc


@pytest.mark.parametrize(
    ("kind", "model", "broken"),
    [
        ("datasources", Datasources, lambda d: {**d, "apiVersion": 2}),
        ("datasources", Datasources, _typo),
        ("datasources", Datasources, lambda d: {**d, "datasources": [{"name": "x"}]}),
        ("dashboards", Providers, lambda d: {**d, "apiVersion": "1"}),
        ("dashboards", Providers, _typo),
        ("dashboards", Providers, lambda d: {**d, "providers": [{"name": "x", "options": {}}]}),
    ],
)
def test_the_schema_refuses_a_broken_copy(kind: str, model: type[Documented], broken: Any) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(broken(copy.deepcopy(_load(kind))))


def test_every_provisioned_path_is_in_the_checkout() -> None:
    assert sorted(p.relative_to(PROVISIONING).as_posix() for p in PROVISIONING.rglob("*.yml")) == [
        "dashboards/amc.yml", "datasources/amc.yml"]  # fmt: skip
    assert Path(DASHBOARDS).is_dir()
