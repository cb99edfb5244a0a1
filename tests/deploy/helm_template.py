"""A small renderer for the subset of Helm's Go templating that our chart uses.

There is no `helm` binary here, so the deploy tests render the chart with this and validate the
result. Supported, and nothing more (anything else raises, so the chart cannot drift silently
into syntax the tests do not understand):

    {{ .Values.a.b }}  {{ .Release.Name }}  {{ .Chart.AppVersion }}   value lookups
    {{ x | quote }}  {{ x | b64enc }}  {{ x | default "v" }}          pipelines
    {{ toYaml x | nindent N }}  {{ toYaml x | indent N }}
    {{- if x }} ... {{- else }} ... {{- end }}   {{- if not x }}       conditionals
    {{-  -}}                                                            whitespace trimming
"""

from __future__ import annotations

import base64
import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.DOTALL)
_MISSING = object()


class TemplateError(Exception):
    """A template uses syntax or a value this renderer does not know."""


@dataclass
class _Node:
    kind: str  # "text" | "expr" | "if"
    text: str = ""
    cond: str = ""
    then: list["_Node"] = field(default_factory=list)
    other: list["_Node"] = field(default_factory=list)


def _tokens(src: str) -> list[tuple[str, str]]:
    """Split into ("text", s) and ("action", s) tokens, applying {{- and -}} trimming."""
    out: list[tuple[str, str]] = []
    pos = 0
    trim_next = False
    for m in _ACTION.finditer(src):
        text = src[pos:m.start()]
        if trim_next:
            text = text.lstrip()
        if m.group(1):
            text = text.rstrip()
        out.append(("text", text))
        out.append(("action", m.group(2)))
        trim_next = bool(m.group(3))
        pos = m.end()
    tail = src[pos:]
    out.append(("text", tail.lstrip() if trim_next else tail))
    return out


def _parse(tokens: list[tuple[str, str]], i: int = 0, stop: tuple[str, ...] = ()) -> tuple[list[_Node], int, str]:
    nodes: list[_Node] = []
    while i < len(tokens):
        kind, s = tokens[i]
        i += 1
        if kind == "text":
            nodes.append(_Node("text", text=s))
            continue
        if s.startswith("/*"):
            continue
        word = s.split()[0] if s else ""
        if word in stop:
            return nodes, i, word
        if word == "if":
            then, i, ended = _parse(tokens, i, ("else", "end"))
            other: list[_Node] = []
            if ended == "else":
                other, i, ended = _parse(tokens, i, ("end",))
            if ended != "end":
                raise TemplateError(f"unterminated 'if {s[2:].strip()}'")
            nodes.append(_Node("if", cond=s[2:].strip(), then=then, other=other))
        elif word in ("else", "end"):
            raise TemplateError(f"unexpected '{word}'")
        else:
            nodes.append(_Node("expr", text=s))
    if stop:
        raise TemplateError(f"missing one of {stop}")
    return nodes, i, ""


def _lookup(path: str, ctx: dict) -> Any:
    cur: Any = ctx
    for part in path.lstrip(".").split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise TemplateError(f"no value at {path}")
        cur = cur[part]
    return cur


def _literal(arg: str, ctx: dict) -> Any:
    if arg.startswith("."):
        return _lookup(arg, ctx)
    if arg.startswith('"') and arg.endswith('"'):
        return arg[1:-1]
    if re.fullmatch(r"-?\d+", arg):
        return int(arg)
    raise TemplateError(f"unsupported argument {arg!r}")


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return ""
    return str(v)


def _to_yaml(v: Any) -> str:
    return yaml.safe_dump(v, default_flow_style=False, sort_keys=False).rstrip("\n")


def _apply(fn: str, args: list[str], value: Any, ctx: dict) -> Any:
    if fn == "quote":
        return '"' + _scalar(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if fn == "b64enc":
        return base64.b64encode(_scalar(value).encode()).decode()
    if fn == "default":
        return value if value not in (None, "", [], {}, False) else _literal(args[0], ctx)
    if fn in ("nindent", "indent"):
        pad = " " * int(args[0])
        body = "\n".join(pad + line if line else line for line in _scalar(value).split("\n"))
        return "\n" + body if fn == "nindent" else body
    raise TemplateError(f"unsupported function {fn!r}")


def _evaluate(expr: str, ctx: dict) -> Any:
    stages = [s.strip() for s in expr.split("|")]
    head = stages[0].split()
    if head[0] == "toYaml":
        value: Any = _to_yaml(_literal(head[1], ctx))
    elif head[0] == "not":
        value = not _truthy(_literal(head[1], ctx))
    elif len(head) == 1:
        value = _literal(head[0], ctx)
    else:
        raise TemplateError(f"unsupported expression {stages[0]!r}")
    for stage in stages[1:]:
        fn, *args = stage.split()
        value = _apply(fn, args, value, ctx)
    return value


def _truthy(v: Any) -> bool:
    return v not in (None, "", 0, False, [], {})


def _emit(nodes: list[_Node], ctx: dict) -> str:
    out: list[str] = []
    for n in nodes:
        if n.kind == "text":
            out.append(n.text)
        elif n.kind == "expr":
            out.append(_scalar(_evaluate(n.text, ctx)))
        else:
            out.append(_emit(n.then if _truthy(_evaluate(n.cond, ctx)) else n.other, ctx))
    return "".join(out)


def render_text(src: str, ctx: dict) -> str:
    """Render one template source with a context {"Values", "Release", "Chart"}."""
    nodes, _, _ = _parse(_tokens(src))
    return _emit(nodes, ctx)


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in override.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def render_chart(chart_dir: Path, release: str = "rca", overrides: dict | None = None) -> dict[str, list[dict]]:
    """Render every YAML template of the chart; returns {template file name: [objects]}.

    Empty documents (a template whose `if` was false) are dropped, as helm does.
    """
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    values = _merge(yaml.safe_load((chart_dir / "values.yaml").read_text()) or {}, overrides or {})
    ctx = {
        "Values": values,
        "Release": {"Name": release, "Namespace": "default", "Service": "Helm"},
        "Chart": {"Name": chart["name"], "Version": chart["version"], "AppVersion": chart.get("appVersion", "")},
    }
    rendered: dict[str, list[dict]] = {}
    for path in sorted((chart_dir / "templates").glob("*.yaml")):
        text = render_text(path.read_text(), ctx)
        rendered[path.name] = [d for d in yaml.safe_load_all(text) if d]
    return rendered
