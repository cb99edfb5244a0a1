"""Answers: what they say, where their facts come from, and the optional LLM rewording."""

from __future__ import annotations

import json

import pytest
from rca_fakes import NOW, FakeService, Receiver

from rca_service.errors import ConfigError, InputError, RcaError
from rca_service.query.engine import QueryConfig, QueryEngine
from rca_service.query.llm import LLMRephraser, completions_url

OFFLINE = QueryConfig(semantic_services=False)


@pytest.fixture
def engine():
    return QueryEngine(FakeService(), OFFLINE)


def test_answer_names_cause_confidence_and_evidence(engine):
    got = engine.answer("why is checkout slow?", now=NOW)
    text = got["answer"]
    assert "basketservice" in text and "86%" in text and "high" in text
    assert "cpu_usage of basketservice at 4.1x" in text  # ranked evidence, quoted
    assert "inc-20260309-221000-0001" in text and "restart of basketservice" in text  # what resolved it last time
    assert got["root_causes"][0] == {"service": "basketservice", "kind": "resource", "score": 8.6, "confidence": 0.86,
                                     "signal": "metric.cpu_usage"}
    sources = [e["source"] for e in got["evidence"]]
    assert sources[:3] == ["rca"] * 3 and "vector" in sources
    vec = next(e for e in got["evidence"] if e["source"] == "vector")
    assert vec["kind"] == "log_template" and vec["service"] == "basketservice"
    assert got["similar"][0]["incident_id"] == "inc-20260309-221000-0001"


def test_evidence_for_the_asked_signal_comes_first():
    svc = FakeService()
    engine = QueryEngine(svc, OFFLINE)
    got = engine.answer("why is billing erroring?", now=NOW)
    assert got["evidence"][0]["summary"].startswith("error rate of billing-api")
    assert ("search", "why is billing erroring? billing-api deploy change.count", None, "billing-api", 3) in svc.calls


def test_inconclusive_results_are_not_stated_as_fact(engine):
    text = engine.answer("why is the ledger slow?", now=NOW)["answer"]
    assert "inconclusive" in text and "can't name the root cause" in text
    assert "34%" in text and "low" in text
    assert "most likely root cause" not in text


def test_says_plainly_when_it_does_not_know(engine):
    got = engine.answer("why was shipping slow at 03:00?", now=NOW)
    assert got["answer"].startswith("I don't know the cause: I found no incident involving shippingservice")
    assert got["root_causes"] == [] and got["incident_id"] is None
    assert "shippingservice looks healthy" in got["answer"]
    assert "I don't know an incident with id inc-19990101" in engine.answer("why did inc-19990101 happen?", now=NOW)["answer"]
    assert engine.answer("blorp", now=NOW)["answer"].startswith("I don't understand")


def test_a_failing_ranker_is_reported_not_hidden():
    svc = FakeService()

    def broken(*a, **k):
        raise RcaError("localizer not loaded")

    svc.rca = broken
    got = QueryEngine(svc, OFFLINE).answer("what broke at 14:05?", now=NOW)
    assert "could not rank its root causes" in got["answer"] and got["root_causes"] == []
    assert got["incident_id"].endswith("-0003")


def test_named_service_found_through_rankings_when_it_was_not_anomalous():
    svc = FakeService()
    del svc.incidents[1].services["basketservice"]  # the cause itself looked normal to the detector
    got = QueryEngine(svc, OFFLINE).answer("why did basketservice break this afternoon?", now=NOW)
    assert got["incident_id"].endswith("-0003") and got["root_causes"][0]["service"] == "basketservice"


def test_status_and_listing_answers(engine):
    status = engine.answer("is the ledger ok?", now=NOW)
    assert status["answer"].startswith("ledger-db is not OK right now") and status["status"]["anomalous"] is True
    assert engine.answer("is it ok?", now=NOW)["answer"].startswith("Which service do you mean? I know")
    listed = engine.answer("show incidents from the last 24 hours", now=NOW)
    assert [r["incident_id"][-4:] for r in listed["incidents"]] == ["0004", "0003", "0002", "0001"]
    assert listed["incidents"][0]["root_cause"] is None  # inconclusive: not presented as a cause
    assert listed["incidents"][1]["root_cause"] == "basketservice"
    assert listed["answer"].startswith("4 incidents in the last 24 hours")


def test_changes_come_from_ranked_evidence_and_windows(engine):
    got = engine.answer("what changed before the billing errors?", now=NOW)
    assert "deploy of billing-api version 2.4.1 at 08:58" in got["answer"]
    assert "6 change event(s) on billing-api between 08:54 UTC and 09:00 UTC" in got["answer"]
    assert {e["source"] for e in got["evidence"]} == {"rca", "windows"}


def test_remediation_answers(engine):
    got = engine.answer("is the fix for the ledger approved?", now=NOW)
    assert [r["id"] for r in got["remediations"]] == ["rem-2", "rem-3"]
    assert "2 awaiting approval" in got["answer"]


def test_input_checks(engine):
    for bad in ("", "   ", "x" * 1001, None):
        with pytest.raises(InputError):
            engine.answer(bad, now=NOW)


def test_config_validation():
    with pytest.raises(ConfigError):
        QueryConfig.from_dict({"timezone": "UTC", "colour": "blue"})
    with pytest.raises(ConfigError):
        QueryConfig(timezone="Mars/Olympus")
    with pytest.raises(ConfigError):
        QueryConfig(max_evidence=0)
    assert QueryConfig.from_dict({"timezone": "Europe/Berlin"}).tz.key == "Europe/Berlin"


def llm_reply(text: str) -> tuple[int, dict, bytes]:
    body = {"choices": [{"message": {"role": "assistant", "content": text}}]}
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def test_llm_rewords_only_the_answer_from_the_evidence_it_is_handed():
    llm = Receiver()
    try:
        llm.script = [llm_reply("basketservice ran out of CPU (86% confidence); restart it as last time.")]
        svc = FakeService()
        offline = QueryEngine(svc, OFFLINE).answer("why is checkout slow?", now=NOW)
        online = QueryEngine(svc, QueryConfig(semantic_services=False, llm_url=llm.url, llm_model="m")).answer(
            "why is checkout slow?", now=NOW)
        assert online["answer"].startswith("basketservice ran out of CPU") and online["rephrased"] is True
        assert {k: v for k, v in online.items() if k not in ("answer", "rephrased")} == \
               {k: v for k, v in offline.items() if k not in ("answer", "rephrased")}
        sent = llm.requests[0]
        assert sent.path == "/v1/chat/completions"
        facts = json.loads(sent.json()["messages"][1]["content"])
        assert facts["offline_answer"] == offline["answer"]
        assert [e["summary"] for e in facts["evidence"]] == [e["summary"] for e in offline["evidence"]]
    finally:
        llm.close()


@pytest.mark.parametrize("answer", [
    (500, {}, b"boom"),
    (200, {"Content-Type": "application/json"}, b"not json"),
    (200, {"Content-Type": "application/json"}, b'{"choices": []}'),
    llm_reply(""),
    llm_reply("x" * 5000),
])
def test_llm_failures_fall_back_to_the_offline_answer(answer):
    llm = Receiver()
    try:
        llm.script = [answer]
        cfg = QueryConfig(semantic_services=False, llm_url=llm.url + "/v1")
        got = QueryEngine(FakeService(), cfg).answer("what broke at 14:05?", now=NOW)
        assert got["rephrased"] is False and got["answer"].startswith("At 14:05 UTC: incident")
        assert len(llm.requests) == 1
    finally:
        llm.close()


def test_unreachable_llm_falls_back():
    got = QueryEngine(FakeService(), OFFLINE, rephraser=LLMRephraser("http://127.0.0.1:9", timeout_s=1)).answer(
        "what broke at 14:05?", now=NOW)
    assert got["rephrased"] is False and "basketservice" in got["answer"]


def test_completions_url_forms():
    assert completions_url("http://h:8000") == "http://h:8000/v1/chat/completions"
    assert completions_url("http://h:8000/v1/") == "http://h:8000/v1/chat/completions"
    assert completions_url("http://h/v1/chat/completions") == "http://h/v1/chat/completions"


def test_status_prefers_the_detectors_top_signals_and_skips_missing_values():
    svc = FakeService()
    base = svc.service_status

    def status(name):
        out = base(name)
        out["signals"] = {"metric.fd_open": 12.0, "metric.gc_pause": None, "span.error_rate": 0.02,
                          "metric.cpu_usage": 0.97, "span.latency_p99": 0.8, "log.count": 40.0}
        out["top_signals"] = ["metric.cpu_usage"]
        return out

    svc.service_status = status
    text = QueryEngine(svc, OFFLINE).answer("is the ledger ok?", now=NOW)["answer"]
    assert "Most unusual: metric.cpu_usage." in text
    assert "Latest values: metric.cpu_usage = 0.97, span.error_rate = 0.02, span.latency_p99 = 0.8" in text
    assert "gc_pause" not in text
