"""`KubernetesExecutor`: acts on Deployments through the official `kubernetes` client (AppsV1Api).

- restart: merge-patch the pod template's ``kubectl.kubernetes.io/restartedAt`` annotation
  (what ``kubectl rollout restart`` does); nothing to undo.
- scale_out: merge-patch the ``scale`` subresource to current + n; undo scales back.
- rollback / revert_config: find the Deployment's ReplicaSets (its selector, owned by its uid),
  take the newest revision older than the current one (or `to_revision`), and JSON-patch the
  Deployment's template with it minus ``pod-template-hash`` (what ``kubectl rollout undo``
  does); undo puts the saved template back.
- shift_traffic is not supported (it needs a mesh; use the webhook executor).

Dry runs send every write with ``dryRun=All``: the API server validates and admits the change
without persisting it (server-side dry run). Errors from the API come back as ``ok=False``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from rca_service.errors import ConfigError
from rca_service.respond.actions import Action, RestartWorkload, RevertConfig, RollbackRevision, ScaleOut
from rca_service.respond.config import config_from_dict
from rca_service.respond.executors.base import ExecutionResult

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
_SUPPORTED = (RestartWorkload.name, ScaleOut.name, RollbackRevision.name, RevertConfig.name)


@dataclass(frozen=True)
class KubernetesExecutorConfig:
    """Client-side settings.

    Attributes:
        field_manager: name recorded as the manager of the fields we change.
        restart_annotation: pod-template annotation a restart sets.
        request_timeout_s: per-request timeout.
    """

    field_manager: str = "rca-service"
    restart_annotation: str = "kubectl.kubernetes.io/restartedAt"
    request_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.field_manager or self.request_timeout_s <= 0:
            raise ConfigError("KubernetesExecutorConfig: field_manager must be set and request_timeout_s positive")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "KubernetesExecutorConfig":
        return config_from_dict(cls, data)


class _StepFailed(Exception):
    """A step that cannot go on (no earlier revision...); becomes ``ok=False``."""


class KubernetesExecutor:
    """Executor over the Kubernetes API.

    Args:
        api_client: a configured `kubernetes.client.ApiClient`.
        config: client-side settings.
    """

    name = "kubernetes"

    def __init__(self, api_client: k8s.ApiClient, config: KubernetesExecutorConfig | None = None) -> None:
        self.api_client = api_client
        self.config = config or KubernetesExecutorConfig()
        self.apps = k8s.AppsV1Api(api_client)

    @classmethod
    def from_kubeconfig(cls, path: str | None = None, context: str | None = None,
                        config: KubernetesExecutorConfig | None = None) -> "KubernetesExecutor":
        """From a kubeconfig file (default ``~/.kube/config`` / ``$KUBECONFIG``)."""
        return cls(k8s_config.new_client_from_config(config_file=path, context=context, persist_config=False), config)

    @classmethod
    def from_host(cls, host: str, token: str = "", verify_ssl: bool = True, ca_cert: str | None = None,
                  config: KubernetesExecutorConfig | None = None) -> "KubernetesExecutor":
        """From an API server URL and an optional bearer token."""
        conf = k8s.Configuration(host=host)
        conf.verify_ssl = verify_ssl
        if ca_cert:
            conf.ssl_ca_cert = ca_cert
        if token:
            conf.api_key = {"BearerToken": token}
            conf.api_key_prefix = {"BearerToken": "Bearer"}
        return cls(k8s.ApiClient(conf), config)

    def supports(self, action: Action) -> bool:
        return action.name in _SUPPORTED and action.workload_kind == "Deployment"

    # -- the three steps -----------------------------------------------------------------
    def dry_run(self, action: Action) -> ExecutionResult:
        return self._run(action, dry=True)

    def apply(self, action: Action) -> ExecutionResult:
        return self._run(action, dry=False)

    def rollback(self, action: Action, applied_state: dict[str, Any]) -> ExecutionResult:
        try:
            if isinstance(action, ScaleOut) and "replicas" in applied_state:
                self._patch_scale(action, int(applied_state["replicas"]), dry=False)
                return ExecutionResult(True, f"scaled {action.namespace}/{action.workload} back to "
                                             f"{applied_state['replicas']} replica(s)")
            if isinstance(action, (RollbackRevision, RevertConfig)) and applied_state.get("template"):
                self._replace_template(action, applied_state["template"], dry=False)
                return ExecutionResult(True, f"restored {action.namespace}/{action.workload} to revision "
                                             f"{applied_state.get('revision')}'s template")
        except (ApiException, urllib3.exceptions.HTTPError, _StepFailed, ValueError) as exc:
            return ExecutionResult(False, f"rollback of {action.describe()} failed: {_describe(exc)}")
        return ExecutionResult(True, f"nothing to undo for {action.describe()}")

    def _run(self, action: Action, dry: bool) -> ExecutionResult:
        if not self.supports(action):
            return ExecutionResult(False, f"the Kubernetes executor cannot {action.name} a {action.workload_kind}", dry_run=dry)
        verb = "would " if dry else ""
        try:
            if isinstance(action, ScaleOut):
                state, details = self._scale_out(action, dry)
            elif isinstance(action, (RollbackRevision, RevertConfig)):
                state, details = self._rollback_revision(action, dry)
            else:
                state, details = self._restart(action, dry)
        except (ApiException, urllib3.exceptions.HTTPError, _StepFailed, ValueError) as exc:
            return ExecutionResult(False, f"{action.describe()} failed: {_describe(exc)}", dry_run=dry)
        return ExecutionResult(True, f"{verb}{action.describe()}", dry_run=dry, state=state, details=details)

    # -- actions -------------------------------------------------------------------------
    def _read(self, action: Action) -> Any:
        return self.apps.read_namespaced_deployment(action.workload, action.namespace,
                                                    _request_timeout=self.config.request_timeout_s)

    def _dry(self, dry: bool) -> dict[str, Any]:
        return {"dry_run": "All"} if dry else {}

    def _restart(self, action: Action, dry: bool) -> tuple[dict, dict]:
        dep = self._read(action)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"spec": {"template": {"metadata": {"annotations": {self.config.restart_annotation: stamp}}}}}
        out = self.apps.patch_namespaced_deployment(
            action.workload, action.namespace, body, field_manager=self.config.field_manager,
            _content_type=MERGE_PATCH, _request_timeout=self.config.request_timeout_s, **self._dry(dry))
        state = {"replicas": dep.spec.replicas, "revision": _revision(dep)}
        return state, {"restarted_at": stamp, "generation": out.metadata.generation}

    def _patch_scale(self, action: Action, replicas: int, dry: bool) -> Any:
        return self.apps.patch_namespaced_deployment_scale(
            action.workload, action.namespace, {"spec": {"replicas": replicas}},
            field_manager=self.config.field_manager, _content_type=MERGE_PATCH,
            _request_timeout=self.config.request_timeout_s, **self._dry(dry))

    def _scale_out(self, action: ScaleOut, dry: bool) -> tuple[dict, dict]:
        scale = self.apps.read_namespaced_deployment_scale(action.workload, action.namespace,
                                                           _request_timeout=self.config.request_timeout_s)
        current = int(scale.spec.replicas or 0)
        target = current + action.add_replicas
        out = self._patch_scale(action, target, dry)
        return {"replicas": current, "target": target}, {"spec_replicas": out.spec.replicas}

    def _rollback_revision(self, action: RollbackRevision | RevertConfig, dry: bool) -> tuple[dict, dict]:
        dep = self._read(action)
        current = _revision(dep)
        labels = (dep.spec.selector.match_labels or {}) if dep.spec.selector else {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        sets = self.apps.list_namespaced_replica_set(action.namespace, label_selector=selector,
                                                     _request_timeout=self.config.request_timeout_s).items
        owned = [rs for rs in sets if any(o.uid == dep.metadata.uid for o in (rs.metadata.owner_references or []))]
        wanted = getattr(action, "to_revision", None)
        candidates = [(rev, rs) for rs in owned if (rev := _revision(rs)) is not None and rev < (current or 0)
                      and (wanted is None or rev == wanted)]
        if not candidates:
            raise _StepFailed(f"no earlier revision of {action.namespace}/{action.workload} to roll back to "
                              f"(current revision {current})")
        to_rev, rs = max(candidates, key=lambda c: c[0])
        template = self.api_client.sanitize_for_serialization(rs.spec.template)
        template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
        self._replace_template(action, template, dry)
        saved = self.api_client.sanitize_for_serialization(dep.spec.template)
        return {"replicas": dep.spec.replicas, "revision": current, "template": saved}, {"to_revision": to_rev}

    def _replace_template(self, action: Action, template: dict[str, Any], dry: bool) -> Any:
        patch = [{"op": "replace", "path": "/spec/template", "value": template}]
        return self.apps.patch_namespaced_deployment(
            action.workload, action.namespace, patch, field_manager=self.config.field_manager,
            _content_type=JSON_PATCH, _request_timeout=self.config.request_timeout_s, **self._dry(dry))


def _revision(obj: Any) -> int | None:
    annotations = (obj.metadata.annotations or {}) if obj.metadata else {}
    try:
        return int(annotations[REVISION_ANNOTATION])
    except (KeyError, TypeError, ValueError):
        return None


def _describe(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        return f"API answered {exc.status} {exc.reason}"
    return f"{type(exc).__name__}: {exc}"
