"""drain3 templates: mining a real LogHub sample, new-template counts, template queries."""

from __future__ import annotations

import csv

from rca_service.records import LogRecord
from rca_service.store import frames

from .conftest import T0


def _hdfs_logs(loghub_dir):
    with open(loghub_dir / "HDFS" / "HDFS_2k.log_structured.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return rows, [LogRecord("hdfs", T0 + i * 0.25, r["Content"], severity_text=r["Level"]) for i, r in enumerate(rows)]


def test_real_hdfs_logs_mine_into_few_templates(store, loghub_dir):
    rows, logs = _hdfs_logs(loghub_dir)
    store.consume_logs(logs)
    templates = store.log_templates("hdfs")
    truth = {r["EventId"] for r in rows}
    assert len(truth) <= len(templates) <= 3 * len(truth)
    assert sum(t.count for t in templates) == len(rows)
    # the responder-terminating lines (311 in the sample) are one template, blocks masked
    responder = [t for t in templates if "PacketResponder" in t.template and "terminating" in t.template]
    assert responder and max(t.count for t in responder) >= 300
    warn = sum(r["Level"] == "WARN" for r in rows)
    f = store.frame("hdfs", T0, T0 + 600)
    assert f.column(frames.LOG_COUNT_WARN).sum() == warn
    assert f.column(frames.LOG_COUNT).sum() == len(rows)


def test_new_templates_counted_in_the_step_they_appear(store):
    store.consume_logs([LogRecord("api", T0 + i, f"GET /items/{i} 200 in {i} ms") for i in range(30)])
    store.consume_logs([LogRecord("api", T0 + 60 + i, f"GET /items/{i} 200 in {i} ms") for i in range(30)])
    store.consume_logs([LogRecord("api", T0 + 130, "connection pool exhausted", severity=17)])
    f = store.frame("api", T0, T0 + 180)
    assert f.column(frames.LOG_NEW_TEMPLATES).tolist() == [30, 0, 1]
    in_range = store.log_templates("api", T0 + 120, T0 + 180)
    assert [t.template for t in in_range] == ["connection pool exhausted"]
    assert in_range[0].error_count == 1 and in_range[0].first_seen == T0 + 130
    everything = store.log_templates()
    assert {t.count for t in everything} == {60, 1}
    assert store.log_templates("other") == []
