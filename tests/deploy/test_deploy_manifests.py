"""The deployment files: they parse, the chart renders into valid Kubernetes objects, the
Collector configs forward to our ports, the image runs as non-root with the pinned torch."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
import yaml
from kubernetes.client import ApiClient

from helm_template import TemplateError, render_chart, render_text

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CHART = DEPLOY / "helm" / "rca-service"

_MODEL_TYPES = {
    ("apps/v1", "Deployment"): "V1Deployment",
    ("v1", "Service"): "V1Service",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Secret"): "V1Secret",
    ("v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
}


def _deserialize(obj: dict):
    """Build the official client's model; it raises on missing required fields and bad types."""
    model = _MODEL_TYPES[(obj["apiVersion"], obj["kind"])]
    return ApiClient().deserialize(json.dumps(obj), model, "application/json")


def _objects(overrides: dict | None = None) -> list[dict]:
    return [o for docs in render_chart(CHART, "rca", overrides).values() for o in docs]


def _one(objs: list[dict], kind: str, name_suffix: str = "") -> dict:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, [o["metadata"]["name"] for o in found]
    return found[0]


@pytest.mark.parametrize("path", sorted(p for p in DEPLOY.rglob("*.yaml") if "templates" not in p.parts), ids=str)
def test_every_plain_yaml_file_parses(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs and all(isinstance(d, dict) for d in docs)


def test_chart_renders_valid_kubernetes_objects() -> None:
    objs = _objects()
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == ["ConfigMap", "Deployment", "PersistentVolumeClaim", "Secret", "Service", "Service"]
    for obj in objs:
        assert {"apiVersion", "kind", "metadata"} <= obj.keys()
        assert obj["metadata"]["name"].startswith("rca-")
        model = _deserialize(obj)
        assert model.kind == obj["kind"]


def test_chart_objects_pass_the_kubernetes_openapi_schema() -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate not installed")
    version = kv.latest_version()
    errors = {}
    for obj in _objects():
        try:
            kv.validate(obj, version, strict=True)
        except kv.ValidationError as exc:  # collect them all: one run shows every broken object
            errors[f"{obj['kind']}/{obj['metadata']['name']}"] = str(exc)
    assert errors == {}


def test_deployment_ports_probes_volumes_and_security() -> None:
    objs = _objects()
    dep = _deserialize(_one(objs, "Deployment"))
    pod = dep.spec.template.spec
    (container,) = pod.containers
    assert {p.name: p.container_port for p in container.ports} == {"otlp-http": 4318, "otlp-grpc": 4317}
    assert container.liveness_probe.http_get.path == "/healthz"
    assert container.readiness_probe.http_get.path == "/readyz"
    # Probes name a port that the container declares.
    port_names = {p.name for p in container.ports}
    for probe in (container.liveness_probe, container.readiness_probe, container.startup_probe):
        assert probe.http_get.port in port_names
    volumes = {v.name: v for v in pod.volumes}
    assert {m.name for m in container.volume_mounts} <= volumes.keys()
    assert any(m.mount_path == "/data" for m in container.volume_mounts)
    pvc = _one(objs, "PersistentVolumeClaim")
    assert volumes["data"].persistent_volume_claim.claim_name == pvc["metadata"]["name"]
    assert pod.security_context.run_as_non_root is True and pod.security_context.run_as_user != 0
    assert container.security_context.allow_privilege_escalation is False
    assert container.resources.limits["memory"] and container.resources.requests["cpu"]
    # The selector picks the pod template's labels.
    assert dep.spec.selector.match_labels.items() <= dep.spec.template.metadata.labels.items()


def test_service_targets_named_container_ports() -> None:
    objs = _objects()
    container = _one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    names = {p["name"] for p in container["ports"]}
    svc = _one(objs, "Service", "rca-service")
    assert {p["targetPort"] for p in svc["spec"]["ports"]} <= names
    assert {p["port"] for p in svc["spec"]["ports"]} == {4317, 4318}
    headless = _one(objs, "Service", "-headless")
    assert headless["spec"]["clusterIP"] == "None"
    assert svc["spec"]["selector"] == headless["spec"]["selector"]


def test_config_and_secret_feed_the_container_environment() -> None:
    objs = _objects({"secrets": {"apiTokens": "t0k:admin:ops", "slackSigningSecret": "s3cret"}})
    env_from = _one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    cm, secret = _one(objs, "ConfigMap"), _one(objs, "Secret")
    assert {e.get("configMapRef", {}).get("name") for e in env_from} >= {cm["metadata"]["name"]}
    assert {e.get("secretRef", {}).get("name") for e in env_from} >= {secret["metadata"]["name"]}
    assert cm["data"]["RCA_HTTP_PORT"] == "4318" and cm["data"]["RCA_DATA_DIR"] == "/data"
    assert all(k.startswith("RCA_") or k == "HOME" for k in cm["data"])
    assert all(isinstance(v, str) for v in cm["data"].values())
    assert base64.b64decode(secret["data"]["RCA_API_TOKENS"]).decode() == "t0k:admin:ops"
    assert base64.b64decode(secret["data"]["RCA_SLACK_SIGNING_SECRET"]).decode() == "s3cret"
    assert set(secret["data"]) == {"RCA_API_TOKENS", "RCA_INGEST_TOKEN", "RCA_SLACK_SIGNING_SECRET", "RCA_SLACK_WEBHOOK_URL"}


def test_persistence_off_uses_empty_dir_and_drops_the_claim() -> None:
    objs = _objects({"persistence": {"enabled": False}})
    assert not [o for o in objs if o["kind"] == "PersistentVolumeClaim"]
    volumes = {v["name"]: v for v in _one(objs, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"] == {"name": "data", "emptyDir": {}}


def test_changed_ports_reach_container_service_and_config() -> None:
    objs = _objects({"ports": {"http": 8080}})
    container = _one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert {p["containerPort"] for p in container["ports"]} == {8080, 4317}
    assert _one(objs, "ConfigMap")["data"]["RCA_HTTP_PORT"] == "8080"


def test_renderer_refuses_what_it_does_not_understand() -> None:
    ctx = {"Values": {"a": 1}, "Release": {}, "Chart": {}}
    assert render_text("x: {{ .Values.a | quote }}", ctx) == 'x: "1"'
    with pytest.raises(TemplateError):
        render_text("{{ .Values.missing }}", ctx)
    with pytest.raises(TemplateError):
        render_text("{{ range .Values.a }}{{ end }}", ctx)
    with pytest.raises(TemplateError):
        render_text("{{- if .Values.a }}open", ctx)


def _collector(path: str) -> dict:
    return yaml.safe_load((DEPLOY / path).read_text())


def test_collector_forwards_over_otlp_grpc_and_otlphttp_to_our_ports() -> None:
    cfg = _collector("otelcol-config.yaml")
    exporters = cfg["exporters"]
    grpc = [v for k, v in exporters.items() if k.split("/")[0] == "otlp"]
    http = [v for k, v in exporters.items() if k.split("/")[0] == "otlphttp"]
    assert grpc and grpc[0]["endpoint"].endswith(":4317")
    assert http and re.match(r"^http://[^/]+:4318$", http[0]["endpoint"])
    used = {e for p in cfg["service"]["pipelines"].values() for e in p["exporters"]}
    assert {k for k in exporters if k.split("/")[0] in ("otlp", "otlphttp")} <= used
    for pipeline in cfg["service"]["pipelines"].values():
        assert set(pipeline["receivers"]) <= cfg["receivers"].keys()
        assert set(pipeline.get("processors", [])) <= cfg["processors"].keys()
        assert set(pipeline["exporters"]) <= exporters.keys()
    assert set(cfg["service"]["pipelines"]) == {"traces", "metrics", "logs"}


def test_loadbalancing_collector_routes_every_signal_by_service() -> None:
    cfg = _collector("otelcol-loadbalancing.yaml")
    (name,) = [k for k in cfg["exporters"] if k.split("/")[0] == "loadbalancing"]
    lb = cfg["exporters"][name]
    assert lb["routing_key"] == "service"
    assert lb["resolver"]["dns"]["port"] == 4317
    assert all(p["exporters"] == [name] for p in cfg["service"]["pipelines"].values())


def test_compose_wires_service_qdrant_and_collector() -> None:
    compose = _collector("compose.yaml")
    services = compose["services"]
    assert {"rca-service", "qdrant", "otel-collector"} <= services.keys()
    rca = services["rca-service"]
    assert rca["environment"]["RCA_QDRANT_URL"] == "http://qdrant:6333"
    assert {"4317:4317", "4318:4318"} <= set(rca["ports"])
    col = services["otel-collector"]
    assert col["image"].startswith("otel/opentelemetry-collector-contrib:")
    mounted = [v.split(":")[0] for v in col["volumes"]]
    assert "./otelcol-config.yaml" in mounted and (DEPLOY / "otelcol-config.yaml").exists()
    assert (REPO / rca["build"]["context"].replace("..", ".") / rca["build"]["dockerfile"]).exists()


def test_dockerfile_pins_cpu_torch_runs_non_root_and_checks_health() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert lines[0].startswith("FROM python:3.11-slim")
    assert re.search(r"download\.pytorch\.org/whl/cpu\s+torch==2\.13\.0", text)
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    expose = {p for ln in lines if ln.startswith("EXPOSE ") for p in ln.split()[1:]}
    assert {"4317", "4318"} <= expose
    assert any(ln.startswith("HEALTHCHECK") for ln in lines) and "/healthz" in text


def test_model_validation_catches_a_broken_deployment() -> None:
    dep = _one(_objects(), "Deployment")
    del dep["spec"]["selector"]
    with pytest.raises(Exception):
        _deserialize(dep)
