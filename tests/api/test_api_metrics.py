"""GET /metrics: Prometheus text read from service.stats() at scrape time."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def scrape(client) -> dict[str, dict]:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict] = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def test_metrics_expose_the_service_stats(client):
    m = scrape(client)
    assert m["rca_ingest_spans_total"][()] == 1200
    assert m["rca_ingest_metric_points_total"][()] == 300
    assert m["rca_ingest_rejected_total"][(("reason", "invalid_spans"),)] == 2
    assert m["rca_ingest_rejected_total"][(("reason", "overloaded"),)] == 1
    assert m["rca_ingest_requests_total"][(("outcome", "200"), ("signal", "traces"), ("transport", "http"))] == 7
    assert m["rca_ingest_queue_depth"][()] == 3 and m["rca_ingest_queue_capacity"][()] == 256
    assert m["rca_windows_held"][()] == 420 and m["rca_log_templates"][()] == 17
    assert m["rca_store_dropped_total"][()] == 5
    assert m["rca_incidents_total"][()] == 4 and m["rca_rca_runs_total"][()] == 4
    assert m["rca_remediations_total"][()] == 3
    assert m["rca_remediations_status"][(("status", "proposed"),)] == 2
    assert m["rca_remediations_by_action"][(("action", "restart"),)] == 1
    assert m["rca_detector_latency_seconds"][()] == 0.05 and m["rca_ranker_latency_seconds"][()] == 0.3
    assert m["rca_ready"][()] == 1 and m["rca_stats_error"][()] == 0
    assert m["process_resident_memory_bytes"][()] > 0


def test_latency_summaries_and_histograms_when_the_service_counts_them(client, service):
    service.stats = lambda: {"detector": {"latency_seconds": {"count": 10, "sum": 0.5}},
                             "ranker": {"latency_seconds": {"count": 2, "sum": 0.3, "buckets": {0.1: 1, 0.5: 2}}},
                             "incidents": {"total": 9, "open": 2}}
    m = scrape(client)
    assert m["rca_detector_latency_seconds_count"][()] == 10 and m["rca_detector_latency_seconds_sum"][()] == 0.5
    assert m["rca_ranker_latency_seconds_bucket"][(("le", "0.5"),)] == 2
    assert m["rca_ranker_latency_seconds_bucket"][(("le", "+Inf"),)] == 2
    assert m["rca_incidents_total"][()] == 9 and m["rca_incidents_open"][()] == 2


def test_metrics_are_read_at_scrape_time(client, service):
    base = service.stats()
    service.stats = lambda: {**base, "ingest": {**base["ingest"], "accepted_spans": 5000}}
    assert scrape(client)["rca_ingest_spans_total"][()] == 5000


def test_a_failing_stats_call_still_answers(client, service):
    def broken():
        raise RuntimeError("store gone")

    service.stats = broken
    m = scrape(client)
    assert m["rca_stats_error"][()] == 1
    assert "rca_ingest_spans_total" not in m


def test_http_requests_are_counted_by_route_template(client, service):
    inc = service.incidents[0].id
    client.get(f"/api/v1/incidents/{inc}")
    client.get("/api/v1/incidents/inc-nope")
    m = scrape(client)
    counts = m["rca_http_requests_total"]
    assert counts[(("method", "GET"), ("route", "/api/v1/incidents/{incident_id}"), ("status", "200"))] == 1
    assert counts[(("method", "GET"), ("route", "/api/v1/incidents/{incident_id}"), ("status", "404"))] == 1
