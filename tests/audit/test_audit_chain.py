"""The hash chain: each kind of tampering is caught and the first bad record is named."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from rca_service.audit.chain import CHAIN_REPAIRED, GENESIS_HASH, AuditLog, record_hash
from rca_service.errors import AuditError


@pytest.fixture
def chain(tmp_path: Path) -> AuditLog:
    log = AuditLog(tmp_path / "audit" / "chain.jsonl")
    for i in range(6):
        log.append("incident_opened", {"n": i, "score": i / 3}, incident_id=f"inc-{i % 2}", actor="system")
    return log


def _lines(log: AuditLog) -> list[bytes]:
    return log.path.read_bytes().splitlines(keepends=True)


def _write_lines(log: AuditLog, lines: list[bytes]) -> None:
    log.path.write_bytes(b"".join(lines))


def test_intact_chain_verifies(chain: AuditLog):
    result = chain.verify()
    assert result.ok and result.records == 6 and result.first_bad is None
    recs = chain.records()
    assert [r["index"] for r in recs] == list(range(6))
    assert recs[0]["prev_hash"] == GENESIS_HASH
    assert all(recs[i]["prev_hash"] == recs[i - 1]["hash"] for i in range(1, 6))
    assert result.head_hash == recs[-1]["hash"]


def test_records_filtered_by_incident(chain: AuditLog):
    assert [r["body"]["n"] for r in chain.records("inc-1")] == [1, 3, 5]


def test_key_created_private(chain: AuditLog):
    mode = stat.S_IMODE(os.stat(chain.paths.key).st_mode)
    assert mode == 0o600


def test_altered_body_is_caught(chain: AuditLog):
    lines = _lines(chain)
    rec = json.loads(lines[3])
    rec["body"]["n"] = 99
    lines[3] = json.dumps(rec).encode() + b"\n"
    _write_lines(chain, lines)
    result = chain.verify()
    assert not result.ok and result.first_bad == 3 and "altered" in result.reason


def test_middle_record_removed_is_caught(chain: AuditLog):
    lines = _lines(chain)
    del lines[2]
    _write_lines(chain, lines)
    result = chain.verify()
    assert not result.ok and result.first_bad == 2


def test_reordered_records_are_caught(chain: AuditLog):
    lines = _lines(chain)
    lines[1], lines[4] = lines[4], lines[1]
    _write_lines(chain, lines)
    result = chain.verify()
    assert not result.ok and result.first_bad == 1


def test_inserted_record_is_caught(chain: AuditLog):
    lines = _lines(chain)
    prev = json.loads(lines[2])
    content = {"index": 3, "time": prev["time"], "kind": "remediation_approved", "incident_id": "inc-0",
               "actor": "mallory", "body": {}}
    forged = {**content, "prev_hash": prev["hash"], "hash": record_hash(prev["hash"], content)}
    lines.insert(3, json.dumps(forged).encode() + b"\n")
    _write_lines(chain, lines)
    result = chain.verify()
    # The forged record chains; the genuine record after it no longer fits where it now sits.
    assert not result.ok and result.first_bad == 4


def test_rewritten_chain_fails_the_signed_checkpoint(chain: AuditLog, tmp_path: Path):
    # Re-hash every record after a change: the chain itself is consistent, the checkpoint is not.
    recs = chain.records()
    recs[2]["body"]["n"] = 42
    prev = GENESIS_HASH
    out = []
    for rec in recs:
        content = {k: rec[k] for k in ("index", "time", "kind", "incident_id", "actor", "body")}
        rec["prev_hash"], rec["hash"] = prev, record_hash(prev, content)
        prev = rec["hash"]
        out.append(json.dumps(rec).encode() + b"\n")
    _write_lines(chain, out)
    result = chain.verify()
    assert not result.ok and result.first_bad == 5 and "checkpoint" in result.reason


def test_records_cut_from_the_end_are_caught(chain: AuditLog):
    _write_lines(chain, _lines(chain)[:4])
    result = chain.verify()
    assert not result.ok and result.first_bad == 4 and "removed" in result.reason


def test_checkpoint_removed_is_caught(chain: AuditLog):
    chain.paths.checkpoint.unlink()
    assert not chain.verify().ok


def test_forged_checkpoint_signature_is_caught(chain: AuditLog):
    raw = json.loads(chain.paths.checkpoint.read_text())
    raw["count"] = 6
    raw["signature"] = "00" * 64
    chain.paths.checkpoint.write_text(json.dumps(raw))
    result = chain.verify()
    assert not result.ok and "signature" in result.reason


def test_torn_last_record_reported_then_repaired(chain: AuditLog):
    whole = chain.path.read_bytes()
    line = _lines(chain)[-1]
    chain.path.write_bytes(whole + line[: len(line) // 2])  # a half-written seventh record
    result = chain.verify()
    assert not result.ok and result.first_bad == 6 and "torn" in result.reason
    assert len(chain.records()) == 6  # never silently kept

    rec = AuditLog(chain.path).append("policy_refused", {"rule": "x"})
    recs = chain.records()
    assert recs[6]["kind"] == CHAIN_REPAIRED and recs[6]["body"]["truncated_bytes"] == len(line) // 2
    assert rec.index == 7 and rec.prev_hash == recs[6]["hash"]
    assert chain.verify().ok
    assert (chain.path.parent / recs[6]["body"]["saved_to"]).read_bytes() == line[: len(line) // 2]


def test_append_refuses_to_build_on_a_broken_chain(chain: AuditLog):
    lines = _lines(chain)
    del lines[1]
    _write_lines(chain, lines)
    with pytest.raises(AuditError, match="refusing"):
        AuditLog(chain.path).append("incident_opened", {})


def test_append_refuses_after_tail_truncation(chain: AuditLog):
    _write_lines(chain, _lines(chain)[:3])
    with pytest.raises(AuditError):
        AuditLog(chain.path).append("incident_opened", {})


def test_two_instances_share_one_chain(tmp_path: Path):
    a = AuditLog(tmp_path / "chain.jsonl")
    b = AuditLog(tmp_path / "chain.jsonl")
    a.append("incident_opened", {"who": "a"})
    b.append("incident_opened", {"who": "b"})
    a.append("incident_opened", {"who": "a"})
    assert a.verify().ok and [r["index"] for r in a.records()] == [0, 1, 2]


@pytest.mark.parametrize("kind, body", [("Bad Kind", {}), ("ok_kind", {"x": float("nan")}), ("ok_kind", [1])])
def test_bad_appends_are_refused_without_writing(tmp_path: Path, kind, body):
    log = AuditLog(tmp_path / "chain.jsonl")
    with pytest.raises(AuditError):
        log.append(kind, body)
    assert log.records() == []


def test_empty_chain_verifies(tmp_path: Path):
    result = AuditLog(tmp_path / "none" / "chain.jsonl").verify()
    assert result.ok and result.records == 0


def test_verify_with_only_the_public_key(tmp_path: Path):
    log = AuditLog(tmp_path / "audit" / "chain.jsonl", key_path=tmp_path / "elsewhere" / "signing.key")
    log.append("incident_opened", {"n": 1})
    log.append("incident_opened", {"n": 2})
    assert not (tmp_path / "audit" / "checkpoint.key").exists()
    reader = AuditLog(tmp_path / "audit" / "chain.jsonl")  # as `audit verify` opens it
    assert reader.verify().ok
    _write_lines(reader, _lines(reader)[:1])
    result = reader.verify()
    assert not result.ok and result.first_bad == 1


def test_concurrent_appends_from_threads_keep_one_chain(tmp_path: Path):
    import threading

    log = AuditLog(tmp_path / "chain.jsonl")

    def worker(n: int) -> None:
        for i in range(10):
            log.append("rca_ranked", {"thread": n, "i": i})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = log.verify()
    assert result.ok and result.records == 40
    assert sorted((r["body"]["thread"], r["body"]["i"]) for r in log.records()) == [(n, i) for n in range(4) for i in range(10)]


def test_failed_fsync_is_an_audit_error_and_the_next_append_recovers(tmp_path: Path, monkeypatch):
    import errno

    log = AuditLog(tmp_path / "chain.jsonl")
    log.append("incident_opened", {"n": 0})
    real_fsync = os.fsync

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(AuditError, match="cannot write"):
        log.append("incident_opened", {"n": 1})
    monkeypatch.setattr(os, "fsync", real_fsync)
    rec = log.append("incident_opened", {"n": 2})
    assert log.verify().ok and rec.index == len(log.records()) - 1
