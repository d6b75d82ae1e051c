"""Static checks of dashboards/*.json and dashboards/stack/ (no server needed except promtool).

Schema: grafana-foundation-sdk's `dashboard.jsonschema.json` is published in its repository but is
NOT shipped in the pip (or npm) package, so three layers are checked:
1. `DASHBOARD_SCHEMA` below: the Grafana 11.6 dashboard kind for the parts dashboards use, written
   here with the same strictness (additionalProperties false, required keys, enums);
2. a round trip through the pip package's typed models (grafana_foundation_sdk.models.dashboard,
   v11.6 kinds): every key written must survive, so unknown or misspelt keys fail;
3. if GRAFANA_DASHBOARD_JSONSCHEMA points at the official file, validation against it with the
   relaxations every real Grafana export needs (see `relax_official_schema`).
Lint rules follow grafana/dashboard-linter; PromQL syntax is checked with `promtool check rules`.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from dashboard_files import DASHBOARD_DIR, iter_panels, load_dashboards, query_panels
from prometheus_server import substitute

STACK_DIR = DASHBOARD_DIR / "stack"
DASHBOARDS = load_dashboards()
SAMPLE_VARS = {
    "__rate_interval": "1m",
    "__range": "1h",
    "__interval": "15s",
    "service": ".*",
    "provider": ".*",
    "model": ".*",
    "operation": ".*",
    "datasource": "prometheus",
}

# Grafana unit ids (packages/grafana-data/src/valueFormats/categories.ts) that these dashboards may use.
STANDARD_UNITS = {
    "none",
    "short",
    "percent",
    "percentunit",
    "s",
    "ms",
    "us",
    "ns",
    "m",
    "h",
    "d",
    "dtdurations",
    "reqps",
    "rps",
    "ops",
    "wps",
    "cps",
    "rpm",
    "opm",
    "cpm",
    "currencyUSD",
    "currencyEUR",
    "bytes",
    "decbytes",
    "bits",
    "Bps",
    "locale",
    "sci",
    "string",
}
COUNTER_SUFFIXES = ("_total", "_count", "_bucket", "_sum")  # cumulative: meaningless outside rate/increase
RANGE_FUNCS = {
    "rate": {"$__rate_interval"},
    "irate": {"$__rate_interval"},
    "increase": {"$__rate_interval", "$__range"},
}

_DS_REF = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"type": {"type": "string"}, "uid": {"type": "string"}},
}
_GRID = {
    "type": "object",
    "additionalProperties": False,
    "required": ["h", "w", "x", "y"],
    "properties": {
        "h": {"type": "integer", "exclusiveMinimum": 0},
        "w": {"type": "integer", "exclusiveMinimum": 0, "maximum": 24},
        "x": {"type": "integer", "minimum": 0, "exclusiveMaximum": 24},
        "y": {"type": "integer", "minimum": 0},
        "static": {"type": "boolean"},
    },
}
_THRESHOLDS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["mode", "steps"],
    "properties": {
        "mode": {"enum": ["absolute", "percentage"]},
        "steps": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["value", "color"],
                "properties": {"value": {"type": ["number", "null"]}, "color": {"type": "string"}},
            },
        },
    },
}
_FIELD_CONFIG = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "displayName": {"type": "string"},
        "description": {"type": "string"},
        "unit": {"type": "string"},
        "decimals": {"type": "number"},
        "min": {"type": "number"},
        "max": {"type": "number"},
        "mappings": {"type": "array"},
        "thresholds": _THRESHOLDS,
        "noValue": {"type": "string"},
        "links": {"type": "array"},
        "custom": {"type": "object"},
        "color": {
            "type": "object",
            "additionalProperties": False,
            "required": ["mode"],
            "properties": {
                "mode": {"type": "string"},
                "fixedColor": {"type": "string"},
                "seriesBy": {"enum": ["min", "max", "last"]},
            },
        },
    },
}
_PANEL_PROPS: dict[str, Any] = {
    "type": {"type": "string", "minLength": 1},
    "id": {"type": "integer"},
    "title": {"type": "string"},
    "description": {"type": "string"},
    "datasource": _DS_REF,
    "gridPos": _GRID,
    "pluginVersion": {"type": "string"},
    "transparent": {"type": "boolean"},
    "interval": {"type": "string"},
    "maxDataPoints": {"type": "number"},
    "links": {"type": "array"},
    "transformations": {"type": "array"},
    "options": {"type": "object"},
    "timeFrom": {"type": "string"},
    "timeShift": {"type": "string"},
    "targets": {"type": "array", "items": {"type": "object", "required": ["refId"]}},
    "fieldConfig": {
        "type": "object",
        "additionalProperties": False,
        "required": ["defaults", "overrides"],
        "properties": {
            "defaults": _FIELD_CONFIG,
            "overrides": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["matcher", "properties"],
                    "properties": {
                        "matcher": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["id"],
                            "properties": {"id": {"type": "string"}, "options": {}},
                        },
                        "properties": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["id"],
                                "properties": {"id": {"type": "string"}, "value": {}},
                            },
                        },
                    },
                },
            },
        },
    },
}
_PANEL = {"type": "object", "additionalProperties": False, "required": ["type"], "properties": _PANEL_PROPS}
_ROW = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "collapsed", "id", "panels"],
    "properties": {
        "type": {"const": "row"},
        "collapsed": {"type": "boolean"},
        "title": {"type": "string"},
        "datasource": _DS_REF,
        "gridPos": _GRID,
        "id": {"type": "integer"},
        "panels": {"type": "array", "items": _PANEL},
        "repeat": {"type": "string"},
    },
}
_VAR_OPTION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["text", "value"],
    "properties": {
        "selected": {"type": "boolean"},
        "text": {"type": ["string", "array"], "items": {"type": "string"}},
        "value": {"type": ["string", "array"], "items": {"type": "string"}},
    },
}
_VARIABLE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "name"],
    "properties": {
        "type": {
            "enum": ["query", "adhoc", "constant", "datasource", "interval", "textbox", "custom", "system"]
        },
        "name": {"type": "string"},
        "label": {"type": "string"},
        "hide": {"enum": [0, 1, 2]},
        "skipUrlSync": {"type": "boolean"},
        "description": {"type": "string"},
        "query": {"type": ["string", "object"]},
        "datasource": _DS_REF,
        "current": _VAR_OPTION,
        "multi": {"type": "boolean"},
        "options": {"type": "array", "items": _VAR_OPTION},
        "refresh": {"enum": [0, 1, 2]},
        "sort": {"enum": list(range(9))},
        "includeAll": {"type": "boolean"},
        "allValue": {"type": "string"},
        "regex": {"type": "string"},
    },
}
DASHBOARD_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "required": ["schemaVersion", "templating", "annotations", "title", "uid", "panels"],
    "properties": {
        "id": {"type": ["integer", "null"]},
        "uid": {"type": "string", "minLength": 8, "maxLength": 40},
        "title": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "revision": {"type": "integer"},
        "gnetId": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "timezone": {"type": "string"},
        "editable": {"type": "boolean"},
        "graphTooltip": {"enum": [0, 1, 2]},
        "time": {
            "type": "object",
            "additionalProperties": False,
            "required": ["from", "to"],
            "properties": {"from": {"type": "string"}, "to": {"type": "string"}},
        },
        "timepicker": {
            "type": "object",
            "additionalProperties": False,
            "required": ["hidden", "refresh_intervals", "time_options"],
        },
        "fiscalYearStartMonth": {"type": "integer", "minimum": 0, "exclusiveMaximum": 12},
        "liveNow": {"type": "boolean"},
        "weekStart": {"type": "string"},
        "refresh": {"anyOf": [{"type": "string"}, {"const": False}]},
        "schemaVersion": {"type": "integer"},
        "version": {"type": "integer"},
        "panels": {"type": "array", "items": {"anyOf": [_ROW, _PANEL]}},
        "templating": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"list": {"type": "array", "items": _VARIABLE}},
        },
        "annotations": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "list": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "datasource", "enable", "iconColor"],
                        "properties": {
                            "name": {"type": "string"},
                            "datasource": _DS_REF,
                            "enable": {"type": "boolean"},
                            "hide": {"type": "boolean"},
                            "iconColor": {"type": "string"},
                            "type": {"type": "string"},
                            "builtIn": {"type": "number"},
                            "filter": {"type": "object"},
                            "target": {"type": "object"},
                        },
                    },
                }
            },
        },
        "links": {"type": "array"},
    },
}


def relax_official_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The documented relaxations of grafana-foundation-sdk's strict schema for real exports.

    DynamicConfigValue.value and MatcherConfig.options hold any JSON (e.g. a color object, a field
    name string), VariableModel.query may be a string or a flat object, and a threshold's first step
    has value null (-Infinity).
    """
    s = copy.deepcopy(schema)
    d = s["definitions"]
    d["DynamicConfigValue"]["properties"]["value"] = {}
    d["MatcherConfig"]["properties"]["options"] = {}
    d["VariableModel"]["properties"]["query"] = {"type": ["string", "object"]}
    d["Threshold"]["properties"]["value"] = {"type": ["number", "null"]}
    return s


def _params(items: dict[str, Any]) -> list[Any]:
    return [pytest.param(v, id=k) for k, v in items.items()]


def _targets(dash: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(p, t) for p in query_panels(dash) for t in p.get("targets", [])]


def _enclosing_function(expr: str, pos: int) -> str | None:
    """Name of the innermost function call whose parentheses enclose `pos` (None at top level)."""
    depth = 0
    for i in range(pos - 1, -1, -1):
        ch = expr[i]
        if ch == ")":
            depth += 1
        elif ch == "(":
            if depth == 0:
                m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", expr[:i])
                return m.group(1) if m else None
            depth -= 1
    return None


def _strip_selectors(expr: str) -> str:
    # Label matchers and strings may contain anything; blank them so names are found only outside.
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


# --- schema ------------------------------------------------------------------------------------------
def test_there_is_a_dashboard() -> None:
    assert "tracewrap-overview.json" in DASHBOARDS


@pytest.mark.parametrize("dash", _params(DASHBOARDS))
def test_matches_grafana_dashboard_schema(dash: dict[str, Any]) -> None:
    jsonschema.Draft7Validator.check_schema(DASHBOARD_SCHEMA)
    schemas = [("tracewrap subset", DASHBOARD_SCHEMA)]
    official = os.environ.get("GRAFANA_DASHBOARD_JSONSCHEMA")  # .../jsonschema/dashboard.jsonschema.json
    if official:
        schemas.append((official, relax_official_schema(json.loads(Path(official).read_text()))))
    for name, schema in schemas:
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(dash), key=lambda e: list(e.path))
        assert not errors, name + ":\n" + "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def _missing_keys(original: Any, round_tripped: Any, path: str = "") -> list[str]:
    if isinstance(original, dict):
        if not isinstance(round_tripped, dict):
            return [f"{path}: became {type(round_tripped).__name__}"]
        out = []
        for k, v in original.items():
            if k not in round_tripped:
                out.append(f"{path}/{k}")
            else:
                out.extend(_missing_keys(v, round_tripped[k], f"{path}/{k}"))
        return out
    if isinstance(original, list) and isinstance(round_tripped, list) and len(original) == len(round_tripped):
        return [
            m
            for i, (a, b) in enumerate(zip(original, round_tripped, strict=False))
            for m in _missing_keys(a, b, f"{path}[{i}]")
        ]
    return []


@pytest.mark.parametrize("dash", _params(DASHBOARDS))
def test_round_trips_through_grafana_foundation_sdk_models(dash: dict[str, Any]) -> None:
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models import dashboard as models

    register_default_plugins()  # typed panel options / Prometheus dataquery
    model = models.Dashboard.from_json(dash)

    def encode(o: Any) -> Any:
        return o.to_json() if hasattr(o, "to_json") else str(o)

    round_tripped = json.loads(json.dumps(model.to_json(), default=encode))
    missing = _missing_keys(dash, round_tripped)
    assert not missing, f"keys unknown to the Grafana 11.6 models: {missing}"


# --- lint rules (grafana/dashboard-linter) -----------------------------------------------------------
@pytest.mark.parametrize("dash", _params(DASHBOARDS))
def test_datasource_variable_used_by_every_panel(dash: dict[str, Any]) -> None:
    variables = dash["templating"]["list"]
    ds_vars = [v for v in variables if v["type"] == "datasource"]
    assert [v["name"] for v in ds_vars] == ["datasource"] and ds_vars[0]["query"] == "prometheus"
    refs = {"${datasource}", "$datasource"}
    for p in query_panels(dash):
        assert p.get("datasource", {}).get("uid") in refs, p["title"]
        assert p["datasource"].get("type") == "prometheus", p["title"]
        for t in p.get("targets", []):
            assert t.get("datasource", p["datasource"]).get("uid") in refs, (p["title"], t["refId"])
    for v in variables:
        if v["type"] == "query":
            assert v["datasource"]["uid"] in refs, v["name"]


@pytest.mark.parametrize("dash", _params(DASHBOARDS))
def test_panels_have_titles_descriptions_units_and_ids(dash: dict[str, Any]) -> None:
    ids = [p["id"] for p in iter_panels(dash)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in iter_panels(dash):
        assert p.get("title", "").strip(), p
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, p["title"]
    for p in query_panels(dash):
        assert len(p.get("description", "").strip()) >= 20, f"{p['title']}: needs a description"
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
        assert unit in STANDARD_UNITS, f"{p['title']}: unit {unit!r} is not a standard Grafana unit"
        assert p.get("targets"), f"{p['title']}: no queries"
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]


@pytest.mark.parametrize("dash", _params(DASHBOARDS))
def test_cost_panels_say_estimate(dash: dict[str, Any]) -> None:
    for p in query_panels(dash):
        if any("cost" in t["expr"] for t in p["targets"]):
            assert "estimate" in (p["title"] + p["description"]).lower(), p["title"]
            assert p["fieldConfig"]["defaults"]["unit"] == "currencyUSD", p["title"]


@pytest.mark.parametrize("dash", _params(DASHBOARDS))
def test_range_vectors_use_grafana_intervals(dash: dict[str, Any]) -> None:
    for p, t in _targets(dash):
        expr = _strip_selectors(t["expr"])
        selectors = list(re.finditer(r"\[([^\]]+)\]", expr))
        assert selectors or "rate(" not in expr, (p["title"], expr)
        for m in selectors:
            func = _enclosing_function(expr, m.start())
            window = m.group(1).strip()
            assert func in RANGE_FUNCS, f"{p['title']}: range selector [{window}] outside rate/increase"
            assert window in RANGE_FUNCS[func], (
                f"{p['title']}: {func}() must use {RANGE_FUNCS[func]}, got {window}"
            )


@pytest.mark.parametrize("dash", _params(DASHBOARDS))
def test_counters_only_inside_rate_or_increase(dash: dict[str, Any]) -> None:
    suffixes = "|".join(COUNTER_SUFFIXES)
    for p, t in _targets(dash):
        expr = _strip_selectors(t["expr"])
        for m in re.finditer(rf"\b[a-zA-Z_:][a-zA-Z0-9_:]*(?:{suffixes})\b", expr):
            func = _enclosing_function(expr, m.start())
            assert func in RANGE_FUNCS, (
                f"{p['title']}: counter {m.group(0)} used inside {func}(), not rate/increase"
            )


@pytest.mark.parametrize("dash", _params(DASHBOARDS))
def test_queries_filter_on_every_template_variable(dash: dict[str, Any]) -> None:
    names = [v["name"] for v in dash["templating"]["list"] if v["type"] == "query"]
    for p, t in _targets(dash):
        for name in names:
            assert f"${name}" in t["expr"], f"{p['title']} [{t['refId']}] ignores ${name}"


@pytest.mark.parametrize("dash", _params(DASHBOARDS))
def test_promql_parses_with_promtool(dash: dict[str, Any], promtool_bin: str) -> None:
    rules = [
        {"record": f"tracewrap:check_{i}", "expr": substitute(t["expr"], SAMPLE_VARS)}
        for i, (_, t) in enumerate(_targets(dash))
    ]
    for i, v in enumerate(dash["templating"]["list"]):
        m = re.fullmatch(r"label_values\((.*),\s*\w+\)", str(v.get("query", "")), re.S)
        if m:
            rules.append({"record": f"tracewrap:var_{i}", "expr": substitute(m.group(1), SAMPLE_VARS)})
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, f)
    try:
        proc = subprocess.run(
            [promtool_bin, "check", "rules", f.name], capture_output=True, text=True, timeout=60
        )
    finally:
        os.unlink(f.name)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- stack -------------------------------------------------------------------------------------------
STACK_YAML = sorted(p for p in STACK_DIR.rglob("*") if p.suffix in (".yml", ".yaml"))


def test_stack_files_exist() -> None:
    names = {p.relative_to(STACK_DIR).as_posix() for p in STACK_YAML}
    assert {
        "docker-compose.yml",
        "prometheus.yml",
        "otel-collector.yaml",
        "tempo.yaml",
        "grafana/provisioning/datasources/datasources.yaml",
        "grafana/provisioning/dashboards/tracewrap.yaml",
    } <= names


@pytest.mark.parametrize("path", STACK_YAML, ids=lambda p: p.relative_to(STACK_DIR).as_posix())
def test_stack_yaml_parses(path: Path) -> None:
    assert isinstance(yaml.safe_load(path.read_text()), dict)


def test_compose_mounts_exist_and_services_are_wired() -> None:
    compose = yaml.safe_load((STACK_DIR / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"otel-collector", "prometheus", "tempo", "grafana"} <= set(services)
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("."):
                assert (STACK_DIR / src).exists(), f"{name}: {src} does not exist"
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: publish {port} on 127.0.0.1 only"
    collector = yaml.safe_load((STACK_DIR / "otel-collector.yaml").read_text())
    assert collector["exporters"]["otlp/tempo"]["endpoint"].startswith("tempo:")
    assert collector["service"]["pipelines"]["metrics"]["exporters"] == ["prometheus"]
    prom = yaml.safe_load((STACK_DIR / "prometheus.yml").read_text())
    job = prom["scrape_configs"][0]
    assert job["honor_labels"] is True  # keeps job = service.name set by the collector
    port = collector["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1]
    assert job["static_configs"][0]["targets"] == [f"otel-collector:{port}"]


def test_grafana_provisioning_links_prometheus_and_tempo() -> None:
    ds = yaml.safe_load((STACK_DIR / "grafana/provisioning/datasources/datasources.yaml").read_text())
    by_uid = {d["uid"]: d for d in ds["datasources"]}
    assert by_uid["prometheus"]["type"] == "prometheus" and by_uid["tempo"]["type"] == "tempo"
    prom = yaml.safe_load((STACK_DIR / "prometheus.yml").read_text())
    assert by_uid["prometheus"]["jsonData"]["timeInterval"] == prom["global"]["scrape_interval"]
    assert by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"][0]["datasourceUid"] == "tempo"
    assert by_uid["tempo"]["jsonData"]["tracesToMetrics"]["datasourceUid"] == "prometheus"
    provider = yaml.safe_load((STACK_DIR / "grafana/provisioning/dashboards/tracewrap.yaml").read_text())
    path = provider["providers"][0]["options"]["path"]
    compose = yaml.safe_load((STACK_DIR / "docker-compose.yml").read_text())
    mounts = [v.split(":")[1] for v in compose["services"]["grafana"]["volumes"]]
    assert any(m.startswith(path + "/") and m.endswith(".json") for m in mounts)


def test_promtool_accepts_stack_prometheus_config(promtool_bin: str) -> None:
    proc = subprocess.run(
        [promtool_bin, "check", "config", str(STACK_DIR / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
