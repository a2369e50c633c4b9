"""The Helm chart, the plain manifests, the Dockerfile and the Grafana dashboard: static
checks, no cluster and no helm binary.

e2e/test_chart_on_server.py renders the chart with the real helm (which also enforces
values.schema.json, as `jsonschema` is not among the dev tools) and applies it to the
local API server; these tests keep the files honest between e2e runs.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from wedsync_operator import __version__, metrics

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
CHART = ROOT / "helm" / "wedsync-operator"
DEPLOY = ROOT / "deploy"
DASHBOARD = CHART / "dashboards" / "wedsync-operator.json"
VALUES_FILES = [CHART / "values.yaml", *sorted((CHART / "ci").glob("*-values.yaml"))]
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w.-]*):(\s|$)")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def schema() -> dict[str, Any]:
    loaded = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.mark.parametrize("copy", ["helm/wedsync-operator/crds", "deploy/crds"])
def test_shipped_crds_are_identical_to_the_source_in_crds(copy: str) -> None:
    source = {p.name: p.read_bytes() for p in CRDS.glob("*.yaml")}
    copied = {p.name: p.read_bytes() for p in (ROOT / copy).glob("*.yaml")}

    assert source, "crds/ is empty"
    assert sorted(copied) == sorted(source), f"{copy} has other files: run `make sync-crds`"
    drifted = [name for name in source if copied[name] != source[name]]
    assert not drifted, f"{copy} differs from crds/ in {drifted}: run `make sync-crds`"


def test_kustomization_lists_every_crd_and_manifest_of_deploy() -> None:
    resources = load_yaml(DEPLOY / "kustomization.yaml")["resources"]
    on_disk = {
        str(p.relative_to(DEPLOY))
        for p in [*DEPLOY.glob("*.yaml"), *(DEPLOY / "crds").glob("*.yaml")]
        if p.name != "kustomization.yaml"
    }

    assert sorted(resources) == sorted(on_disk)


def test_chart_metadata_matches_the_operator() -> None:
    chart = load_yaml(CHART / "Chart.yaml")

    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "wedsync-operator"
    assert chart["kubeVersion"] == ">=1.28.0-0"
    assert chart["appVersion"] == __version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])


def _keys_without_comment(path: Path) -> Iterator[str]:
    """Mapping keys whose line is not directly preceded by a comment line."""
    previous = ""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if (m := KEY.match(line)) and not previous.lstrip().startswith("#"):
            yield f"{path.name}:{number}: {m['key']}"
        if line.strip():
            previous = line


def test_every_value_has_a_comment_line_above_it() -> None:
    missing = list(_keys_without_comment(CHART / "values.yaml"))

    assert not missing, "values without a comment:\n" + "\n".join(missing)


def test_the_comment_check_finds_an_uncommented_value(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("# fine\nfoo: 1\n\nbar:\n  # fine\n  baz: 2\n  qux: 3\n")

    assert [m.split(": ", 1)[1] for m in _keys_without_comment(values)] == ["bar", "qux"]


def _undeclared(value: Any, node: dict[str, Any], path: str) -> Iterator[str]:
    """Keys of ``value`` that the schema ``node`` does not declare, and type mismatches
    of the declared ones (a small subset of JSON Schema: type, properties,
    additionalProperties, items)."""
    types = node.get("type")
    if types is not None:
        allowed = {types} if isinstance(types, str) else set(types)
        actual = {
            bool: "boolean",
            int: "integer",
            float: "number",
            str: "string",
            list: "array",
            dict: "object",
            type(None): "null",
        }[type(value)]
        if actual not in allowed and not (actual == "integer" and "number" in allowed):
            yield f"{path}: {actual}, schema says {sorted(allowed)}"
            return
    if isinstance(value, dict):
        properties = node.get("properties", {})
        extra = node.get("additionalProperties", True)
        for key, child in value.items():
            if key in properties:
                yield from _undeclared(child, properties[key], f"{path}.{key}")
            elif extra is False:
                yield f"{path}.{key}: not in values.schema.json"
            elif isinstance(extra, dict):
                yield from _undeclared(child, extra, f"{path}.{key}")
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, item in enumerate(value):
            yield from _undeclared(item, node["items"], f"{path}[{i}]")


def test_values_schema_is_a_draft_7_schema_that_refuses_unknown_keys() -> None:
    loaded = schema()

    assert loaded["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert loaded["type"] == "object"
    assert loaded["additionalProperties"] is False


@pytest.mark.parametrize("values", VALUES_FILES, ids=lambda p: p.name)
def test_values_and_ci_values_are_declared_in_the_schema(values: Path) -> None:
    problems = list(_undeclared(load_yaml(values) or {}, schema(), "values"))

    assert not problems, "\n".join(problems)


def test_every_schema_property_has_a_default_in_values_yaml() -> None:
    def absent(value: dict[str, Any], node: dict[str, Any], at: str) -> Iterator[str]:
        for key, child in node.get("properties", {}).items():
            if key == "global":  # a parent chart's globals: never in our values.yaml
                continue
            if key not in value:
                yield f"{at}.{key}"
            elif isinstance(value[key], dict):
                yield from absent(value[key], child, f"{at}.{key}")

    missing = list(absent(load_yaml(CHART / "values.yaml"), schema(), "values"))

    assert not missing, f"declared in the schema but absent from values.yaml: {missing}"


def test_the_schema_check_finds_a_typo_and_a_wrong_type() -> None:
    values = {"replicaCount": "two", "replicas": 2, "rbac": {"secrets": {"names": [1]}}}

    problems = list(_undeclared(values, schema(), "values"))

    assert problems == [
        "values.replicaCount: string, schema says ['integer']",
        "values.replicas: not in values.schema.json",
        "values.rbac.secrets.names[0]: integer, schema says ['string']",
    ]


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_image_user_matches_the_charts_and_manifests_run_as_user() -> None:
    user = re.search(r"^USER (\d+):(\d+)$", _dockerfile(), re.M)
    values = load_yaml(CHART / "values.yaml")
    deployment = load_yaml(DEPLOY / "deployment.yaml")["spec"]["template"]["spec"]

    assert user is not None, "the Dockerfile must switch to a numeric non-root USER"
    uid, gid = int(user[1]), int(user[2])
    assert uid != 0
    assert values["podSecurityContext"]["runAsUser"] == uid == 10001
    assert values["podSecurityContext"]["runAsGroup"] == gid
    assert deployment["securityContext"]["runAsUser"] == uid


def test_image_pins_the_tzdata_the_crd_zone_list_was_made_from() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    dev_pin = next(
        d for d in pyproject["project"]["optional-dependencies"]["dev"] if d.startswith("tzdata")
    )

    assert f'"{dev_pin}"' in _dockerfile()
    assert 'PYTHONTZPATH=""' in _dockerfile()  # read only that tzdata, not the system's


def test_image_runs_the_operator_and_writes_no_bytecode() -> None:
    text = _dockerfile()

    assert re.search(r"^FROM \$\{PYTHON_IMAGE\}$", text, re.M)
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert 'ENTRYPOINT ["wedsync-operator", "run"]' in text
    assert "PYTHONDONTWRITEBYTECODE=1" in text
    assert re.search(r"apt-get install .*\btzdata\b", text)


def test_docker_build_context_holds_what_pip_install_needs() -> None:
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", _dockerfile(), re.M)

    assert "*" in ignore, ".dockerignore should allow-list: '*' first, then '!path'"
    for sources in copied:
        for source in sources.split():
            assert f"!{source}" in ignore, f"{source} is copied but not let into the context"


# -- the Grafana dashboard ------------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    loaded = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _exported_series() -> set[str]:
    """Every series name the operator's registry can expose."""
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "info": ("_info",),
    }
    return {
        family.name + suffix
        for family in metrics.REGISTRY.collect()
        for suffix in suffixes[family.type]
    }


def _panels() -> list[dict[str, Any]]:
    return list(_dashboard()["panels"])


def test_dashboard_queries_only_metrics_the_operator_exports() -> None:
    exported = _exported_series()
    used = {
        name
        for panel in _panels()
        for target in panel["targets"]
        for name in re.findall(r"\bwedsync_operator_\w+", target["expr"])
    }
    variables = {
        name
        for v in _dashboard()["templating"]["list"]
        for name in re.findall(r"\bwedsync_operator_\w+", v.get("definition", ""))
    }

    assert used, "no panel queries the operator's metrics"
    assert not (used | variables) - exported, f"unknown series: {(used | variables) - exported}"


def test_dashboard_has_the_panels_an_sre_needs() -> None:
    by_title = {p["title"]: p for p in _panels()}
    exprs = {t: " ".join(x["expr"] for x in p["targets"]) for t, p in by_title.items()}

    assert by_title["Wedding-day mode timeline"]["type"] == "state-timeline"
    assert "wedsync_operator_mode" in exprs["Wedding-day mode timeline"]
    replicas = exprs["Desired vs current replicas per target"]
    assert "wedsync_operator_desired_replicas" in replicas
    assert "wedsync_operator_current_replicas" in replicas
    assert "target" in replicas
    latency = exprs["Evaluation latency"]
    assert "histogram_quantile(0.5," in latency and "histogram_quantile(0.95," in latency
    assert "wedsync_operator_evaluation_duration_seconds_bucket" in latency
    assert "wedsync_operator_evaluation_errors_total" in exprs["Evaluation errors"]
    assert "wedsync_operator_health_score" in exprs["Platform health score"]


def test_dashboard_panels_use_the_datasource_variable_and_do_not_overlap() -> None:
    dashboard = _dashboard()
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    cells: set[tuple[int, int]] = set()

    assert {"datasource", "namespace", "policy"} <= variables
    assert dashboard["uid"] == "wedsync-operator"
    assert len({p["id"] for p in _panels()}) == len(_panels())
    for panel in _panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        here = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not here & cells, f"{panel['title']} overlaps another panel"
        cells |= here


def test_dashboard_is_shipped_by_the_chart_for_the_grafana_sidecar() -> None:
    template = (CHART / "templates" / "grafana-dashboard.yaml").read_text(encoding="utf-8")
    values = load_yaml(CHART / "values.yaml")["grafanaDashboard"]

    assert '.Files.Get "dashboards/wedsync-operator.json"' in template
    assert values["labels"] == {"grafana_dashboard": "1"}
    # A ConfigMap holds at most 1 MiB.
    assert DASHBOARD.stat().st_size < 1024 * 1024
