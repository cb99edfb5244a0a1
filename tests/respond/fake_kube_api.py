"""A small fake Kubernetes API server (apps/v1 Deployments, their scale subresource, ReplicaSets).

It speaks the endpoints `KubernetesExecutor` calls, over real HTTP on 127.0.0.1, so the official
client's request building and response parsing run unchanged. It honours ``dryRun=All`` (the
change is computed and returned but not stored), JSON merge patch and JSON patch (replace/add),
and rolls ReplicaSet revisions like the Deployment controller: a new pod template gets the
next revision, a template equal to an old ReplicaSet's takes that ReplicaSet over.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

REV = "deployment.kubernetes.io/revision"
_DEPLOY = re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+)(/scale)?$")
_RSLIST = re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/replicasets$")


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def json_patch(doc, ops):
    """RFC 6902, the replace/add operations on object members only."""
    doc = copy.deepcopy(doc)
    for op in ops:
        if op["op"] not in ("replace", "add"):
            raise ValueError(f"unsupported op {op['op']}")
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
        node = doc
        for p in parts[:-1]:
            node = node[p]
        if op["op"] == "replace" and parts[-1] not in node:
            raise ValueError(f"path {op['path']} does not exist")
        node[parts[-1]] = copy.deepcopy(op["value"])
    return doc


def _template_key(template: dict) -> str:
    t = copy.deepcopy(template)
    t.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    return json.dumps(t, sort_keys=True)


class FakeKube:
    """The cluster's state and the HTTP server in front of it."""

    def __init__(self) -> None:
        self.deployments: dict[tuple[str, str], dict] = {}
        self.replicasets: list[dict] = []
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "FakeKube":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- state ------------------------------------------------------------------------
    def add_deployment(self, namespace: str, name: str, images: list[str], replicas: int = 2) -> dict:
        """A Deployment that has been rolled once per image (the last one is current)."""
        dep = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()), "generation": 1,
                         "labels": {"app": name}, "annotations": {}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {}},
            "status": {"replicas": replicas},
        }
        self.deployments[(namespace, name)] = dep
        for image in images:
            template = {"metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": "main", "image": image}]}}
            self._roll(dep, template)
        return dep

    def template(self, namespace: str, name: str) -> dict:
        return self.deployments[(namespace, name)]["spec"]["template"]

    def _roll(self, dep: dict, template: dict) -> None:
        """Make `template` current: take over an equal ReplicaSet or create one, with the next revision."""
        owned = [rs for rs in self.replicasets if rs["metadata"]["ownerReferences"][0]["uid"] == dep["metadata"]["uid"]]
        revision = max([int(rs["metadata"]["annotations"][REV]) for rs in owned] or [0]) + 1
        key = _template_key(template)
        match = next((rs for rs in owned if _template_key(rs["spec"]["template"]) == key), None)
        if match is None:
            pth = uuid.uuid4().hex[:10]
            rs_template = merge_patch(template, {"metadata": {"labels": {"pod-template-hash": pth}}})
            match = {
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"{dep['metadata']['name']}-{pth}", "namespace": dep["metadata"]["namespace"],
                             "uid": str(uuid.uuid4()), "labels": dict(rs_template["metadata"]["labels"]),
                             "annotations": {},
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "controller": True,
                                                  "name": dep["metadata"]["name"], "uid": dep["metadata"]["uid"]}]},
                "spec": {"replicas": 0, "selector": {"matchLabels": dict(rs_template["metadata"]["labels"])},
                         "template": rs_template},
            }
            self.replicasets.append(match)
        match["metadata"]["annotations"][REV] = str(revision)
        dep["metadata"]["annotations"][REV] = str(revision)
        dep["spec"]["template"] = copy.deepcopy(template)

    def _patch_deployment(self, dep: dict, body: object, content_type: str, dry: bool) -> dict:
        if content_type.startswith("application/merge-patch+json"):
            new = merge_patch(dep, body)
        elif content_type.startswith("application/json-patch+json"):
            new = json_patch(dep, body)
        else:
            raise ValueError(f"unsupported patch type {content_type}")
        if dry:
            return new
        changed = _template_key(new["spec"]["template"]) != _template_key(dep["spec"]["template"])
        dep["spec"]["replicas"] = new["spec"]["replicas"]
        if changed:
            dep["metadata"]["generation"] += 1
            self._roll(dep, new["spec"]["template"])
        return dep

    # -- HTTP ---------------------------------------------------------------------------
    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, code: int, obj: dict) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _status(self, code: int, reason: str, message: str) -> None:
                self._send(code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                  "reason": reason, "message": message, "code": code})

            def _route(self, method: str) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                ctype = self.headers.get("Content-Type", "")
                dry = query.get("dryRun") == ["All"]
                with fake.lock:
                    fake.requests.append({"method": method, "path": url.path, "query": query, "content_type": ctype,
                                          "body": body, "authorization": self.headers.get("Authorization")})
                    m = _DEPLOY.match(url.path)
                    if m:
                        dep = fake.deployments.get((m.group(1), m.group(2)))
                        if dep is None:
                            return self._status(404, "NotFound", f'deployments.apps "{m.group(2)}" not found')
                        if m.group(3):
                            return self._scale(dep, method, body, ctype, dry)
                        if method == "GET":
                            return self._send(200, dep)
                        try:
                            return self._send(200, fake._patch_deployment(dep, body, ctype, dry))
                        except (ValueError, KeyError, TypeError) as exc:
                            return self._status(422, "Invalid", str(exc))
                    m = _RSLIST.match(url.path)
                    if m and method == "GET":
                        want = dict(kv.split("=", 1) for kv in query.get("labelSelector", [""])[0].split(",") if kv)
                        items = [rs for rs in fake.replicasets if rs["metadata"]["namespace"] == m.group(1)
                                 and all(rs["metadata"]["labels"].get(k) == v for k, v in want.items())]
                        return self._send(200, {"apiVersion": "apps/v1", "kind": "ReplicaSetList", "metadata": {},
                                                "items": items})
                    return self._status(404, "NotFound", f"no route {method} {url.path}")

            def _scale(self, dep: dict, method: str, body, ctype: str, dry: bool) -> None:
                def scale_obj(replicas: int) -> dict:
                    return {"apiVersion": "autoscaling/v1", "kind": "Scale",
                            "metadata": {"name": dep["metadata"]["name"], "namespace": dep["metadata"]["namespace"]},
                            "spec": {"replicas": replicas}, "status": {"replicas": dep["spec"]["replicas"]}}
                if method == "GET":
                    return self._send(200, scale_obj(dep["spec"]["replicas"]))
                if not ctype.startswith("application/merge-patch+json"):
                    return self._status(415, "UnsupportedMediaType", ctype)
                new = merge_patch(scale_obj(dep["spec"]["replicas"]), body)
                if not dry:
                    dep["spec"]["replicas"] = new["spec"]["replicas"]
                return self._send(200, new)

            def do_GET(self):
                self._route("GET")

            def do_PATCH(self):
                self._route("PATCH")

        return Handler
