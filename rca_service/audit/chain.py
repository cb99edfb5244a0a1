"""The append-only, hash-chained audit log.

Layout under the audit dir (the service uses ``<data_dir>/audit/``; see `audit_paths`)::

    chain.jsonl             one record per line, canonical JSON, newline-terminated
    chain.checkpoint.json   {"count", "head_hash", "signature"}: signed head, rewritten atomically
    checkpoint.key          Ed25519 private key (PKCS#8 PEM, mode 0600), created on first use
                            (or wherever `key_path` says)
    chain.pub.pem           its public key; verification uses the private key when it is at
                            hand, else this file
    chain.lock              flock target that serialises writers across processes
    chain.jsonl.torn-<ns>   bytes of a torn last record cut off by a repair (kept for forensics)

Each record is ``{"index", "time", "kind", "incident_id", "actor", "body", "prev_hash", "hash"}``
where ``hash = sha256(prev_hash + canonical_json({index, time, kind, incident_id, actor, body}))``
(hex; the first record's `prev_hash` is 64 zeros). `append` writes the line with one `write`,
fsyncs it, then rewrites the signed checkpoint; it returns only after both, so a caller that
appends *before* acting knows the record is on disk.

Torn tail policy (a crash during `append`): a last line that is not newline-terminated or does
not parse was never acknowledged. `verify()` reports it (ok=False, first_bad = its position).
The next `append` repairs it: the torn bytes are copied to ``chain.jsonl.torn-<ns>``, the file is
truncated back to the last complete record, and a ``chain_repaired`` record noting the cut
(byte count, sha256, where they were saved) is appended before the caller's record. Any other
fault (an altered, removed, reordered or inserted record; a checkpoint that does not match)
makes `append` refuse with `AuditError`: we never build on a chain that does not verify.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rca_service.audit import checkpoint as cp
from rca_service.audit.canonical import canonical_bytes, normalize
from rca_service.errors import AuditError

GENESIS_HASH = "0" * 64

# Record kinds written by the service. Other well-formed kinds are accepted (a new stage may add
# its own); these are the ones the respond flow and the service wiring use.
INCIDENT_OPENED = "incident_opened"
INCIDENT_UPDATED = "incident_updated"  # an open incident gained a service or a symptom
RCA_RANKED = "rca_ranked"
REMEDIATION_PROPOSED = "remediation_proposed"
REMEDIATION_APPROVED = "remediation_approved"
REMEDIATION_REJECTED = "remediation_rejected"
REMEDIATION_APPLYING = "remediation_applying"  # written before the executor is called
REMEDIATION_APPLIED = "remediation_applied"  # the executor's answer
REMEDIATION_VERIFIED = "remediation_verified"
REMEDIATION_ROLLING_BACK = "remediation_rolling_back"  # written before the executor's rollback
REMEDIATION_ROLLED_BACK = "remediation_rolled_back"
POLICY_REFUSED = "policy_refused"
CHAIN_REPAIRED = "chain_repaired"
KINDS = (
    INCIDENT_OPENED, INCIDENT_UPDATED, RCA_RANKED, REMEDIATION_PROPOSED, REMEDIATION_APPROVED, REMEDIATION_REJECTED,
    REMEDIATION_APPLYING, REMEDIATION_APPLIED, REMEDIATION_VERIFIED, REMEDIATION_ROLLING_BACK,
    REMEDIATION_ROLLED_BACK, POLICY_REFUSED, CHAIN_REPAIRED,
)
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
_CONTENT_KEYS = ("index", "time", "kind", "incident_id", "actor", "body")
_RECORD_KEYS = frozenset(_CONTENT_KEYS + ("prev_hash", "hash"))


@dataclass(frozen=True)
class AuditPaths:
    """Where one chain's files live."""

    chain: Path
    checkpoint: Path
    key: Path
    public_key: Path
    lock: Path


def audit_paths(path: Path, key_path: Path | None = None) -> AuditPaths:
    """The files that belong to the chain at `path` (key beside it unless `key_path` is given)."""
    path = Path(path)
    return AuditPaths(
        chain=path,
        checkpoint=path.with_name(f"{path.stem}.checkpoint.json"),
        key=Path(key_path) if key_path is not None else path.with_name("checkpoint.key"),
        public_key=path.with_name(f"{path.stem}.pub.pem"),
        lock=path.with_name(f"{path.stem}.lock"),
    )


def default_chain_path(data_dir: Path) -> Path:
    """The service's chain file: ``<data_dir>/audit/chain.jsonl``."""
    return Path(data_dir) / "audit" / "chain.jsonl"


@dataclass(frozen=True)
class AuditRecord:
    """One record of the chain, as stored."""

    index: int
    time: float
    kind: str
    incident_id: str | None
    actor: str
    body: dict
    prev_hash: str
    hash: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of `AuditLog.verify`.

    Attributes:
        ok: True when every record, the checkpoint and the tail are intact.
        records: number of complete records that chain correctly from the start.
        first_bad: position (0-based) of the first record that fails, or of the missing/torn
            record; None when ok or when the fault is not tied to a record.
        reason: one readable line.
        head_hash: hash of the last good record (64 zeros for an empty chain).
    """

    ok: bool
    records: int
    first_bad: int | None
    reason: str
    head_hash: str = GENESIS_HASH

    def to_dict(self) -> dict:
        return {"ok": self.ok, "records": self.records, "first_bad": self.first_bad, "reason": self.reason,
                "head_hash": self.head_hash}


def record_hash(prev_hash: str, content: dict) -> str:
    """sha256 hex of the previous hash followed by the canonical JSON of the record's content."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_bytes(content)).hexdigest()


@dataclass
class _Scan:
    """What one pass over the chain file found."""

    records: list[dict]
    good_end: int  # byte offset just after the last complete, correctly chained record
    problem: tuple[int, str] | None  # (position, reason) of the first bad record, torn tail excluded
    torn: bytes  # bytes of a torn last record (empty when none)


def _scan(data: bytes) -> _Scan:
    records: list[dict] = []
    prev = GENESIS_HASH
    offset = 0
    lines = data.split(b"\n")
    # split() leaves b"" after a final newline; anything else there is an unterminated record.
    tail = lines.pop()
    for pos, line in enumerate(lines):
        is_last = pos == len(lines) - 1 and not tail
        try:
            rec = json.loads(line)
        except ValueError:
            if is_last:
                return _Scan(records, offset, None, data[offset:])
            return _Scan(records, offset, (pos, f"record {pos} is not valid JSON"), b"")
        reason = _check_record(rec, pos, prev)
        if reason:
            return _Scan(records, offset, (pos, reason), b"")
        records.append(rec)
        prev = rec["hash"]
        offset += len(line) + 1
    return _Scan(records, offset, None, tail)


def _check_record(rec: Any, pos: int, prev: str) -> str:
    """Why the record at `pos` does not belong there, or "" when it does."""
    if not isinstance(rec, dict) or set(rec) != _RECORD_KEYS:
        return f"record {pos} is malformed (fields {sorted(rec) if isinstance(rec, dict) else type(rec).__name__})"
    if rec["index"] != pos:
        return f"record {pos} carries index {rec['index']}: records were removed, inserted or reordered"
    if rec["prev_hash"] != prev:
        return f"record {pos} does not follow record {pos - 1} (prev_hash mismatch): a record was removed, inserted or replaced"
    try:
        expected = record_hash(prev, {k: rec[k] for k in _CONTENT_KEYS})
    except AuditError as exc:
        return f"record {pos} cannot be canonicalized: {exc}"
    if rec["hash"] != expected:
        return f"record {pos} was altered (its hash does not match its content)"
    return ""


class AuditLog:
    """Append-only hash chain with a signed head checkpoint.

    Thread-safe (one lock per instance); writers in several processes are serialised by an
    flock on ``chain.lock``, and an instance notices another writer's appends by the file size.

    Args:
        path: the chain file, e.g. ``<data_dir>/audit/chain.jsonl`` (created with its parent).
        key_path: Ed25519 checkpoint key; default ``checkpoint.key`` beside the chain.
        clock: source of record times (unix seconds); injectable for tests.
    """

    def __init__(self, path: Path, key_path: Path | None = None, clock: Callable[[], float] = time.time) -> None:
        self.paths = audit_paths(path, key_path)
        self.path = self.paths.chain
        self._clock = clock
        self._lock = threading.Lock()
        self._key: Ed25519PrivateKey | None = None
        self._head = GENESIS_HASH
        self._count = 0
        self._size: int | None = None  # file size after our last load/append; None = not loaded

    @classmethod
    def for_data_dir(cls, data_dir: Path, key_path: Path | None = None) -> "AuditLog":
        """The service's chain under ``<data_dir>/audit/``."""
        return cls(default_chain_path(data_dir), key_path)

    # -- writing ------------------------------------------------------------------------
    def append(self, kind: str, body: dict, incident_id: str | None = None, actor: str = "system") -> AuditRecord:
        """Append one record and return it once it and the new checkpoint are on disk.

        Raises:
            AuditError: a malformed kind/actor/body, or a chain that does not verify.
        """
        if not isinstance(kind, str) or not _KIND_RE.match(kind):
            raise AuditError(f"audit kind {kind!r} must be lower snake case, 2-64 characters")
        if not isinstance(actor, str) or not actor:
            raise AuditError("audit actor must be a non-empty string")
        if incident_id is not None and not isinstance(incident_id, str):
            raise AuditError("audit incident_id must be a string or None")
        if not isinstance(body, dict):
            raise AuditError("audit body must be a dict")
        body = normalize(body)  # fail before touching the file; floats folded once
        with self._lock, self._file_lock():
            try:
                self._ensure_loaded()
                return self._write(kind, body, incident_id, actor)
            except OSError as exc:
                self._size = None  # re-read the file on the next append: it may hold a partial line
                raise AuditError(f"cannot write the audit chain {self.path}: {exc}") from exc

    def _write(self, kind: str, body: dict, incident_id: str | None, actor: str) -> AuditRecord:
        content = {"index": self._count, "time": normalize(float(self._clock())), "kind": kind,
                   "incident_id": incident_id, "actor": actor, "body": body}
        digest = record_hash(self._head, content)
        rec = {**content, "prev_hash": self._head, "hash": digest}
        line = canonical_bytes(rec) + b"\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            written = os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if written != len(line):
            raise AuditError(f"short write to {self.path}: {written} of {len(line)} bytes")
        self._count += 1
        self._head = digest
        self._size = (self._size or 0) + len(line)
        cp.write_checkpoint(self.paths.checkpoint, cp.sign(self._signing_key(), self._count, self._head))
        return AuditRecord(**rec)

    def _file_lock(self) -> "_FlockFile":
        self.paths.lock.parent.mkdir(parents=True, exist_ok=True)
        return _FlockFile(self.paths.lock)

    def _signing_key(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = cp.load_or_create_key(self.paths.key)
            cp.write_public_key(self._key, self.paths.public_key)
        return self._key

    def _ensure_loaded(self) -> None:
        """Bring the cached head up to date with the file; repair a torn tail; refuse a bad chain."""
        size = self.path.stat().st_size if self.path.exists() else 0
        if self._size is not None and size == self._size:
            return
        if size == 0 and not self.paths.checkpoint.exists():
            # A new chain: sign an empty checkpoint first, so a missing checkpoint is never normal.
            self.path.parent.mkdir(parents=True, exist_ok=True)
            cp.write_checkpoint(self.paths.checkpoint, cp.sign(self._signing_key(), 0, GENESIS_HASH))
            self._count, self._head, self._size = 0, GENESIS_HASH, 0
            return
        result, scan, only_torn = self._verify_locked()
        if not result.ok and not only_torn:
            raise AuditError(f"audit chain {self.path} does not verify, refusing to append: {result.reason}")
        self._count = len(scan.records)
        self._head = scan.records[-1]["hash"] if scan.records else GENESIS_HASH
        self._size = scan.good_end
        if scan.torn:
            self._repair_torn_tail(scan)

    def _repair_torn_tail(self, scan: _Scan) -> None:
        saved = self.path.with_name(f"{self.path.name}.torn-{time.time_ns()}")
        cp.atomic_write(saved, scan.torn)
        with open(self.path, "r+b") as f:
            f.truncate(scan.good_end)
            f.flush()
            os.fsync(f.fileno())
        self._write(CHAIN_REPAIRED, {
            "reason": "torn last record from an interrupted write was cut off",
            "at_index": self._count,
            "truncated_bytes": len(scan.torn),
            "sha256": hashlib.sha256(scan.torn).hexdigest(),
            "saved_to": saved.name,
        }, None, "system")

    # -- reading ------------------------------------------------------------------------
    def verify(self) -> VerifyResult:
        """Check every record, the signed checkpoint and the tail. Reads only; never repairs."""
        with self._lock:
            return self._verify_locked()[0]

    def _verify_locked(self) -> tuple[VerifyResult, _Scan, bool]:
        """(result, scan, True when the only fault is a torn last record)."""
        try:
            data = self.path.read_bytes() if self.path.exists() else b""
        except OSError as exc:
            return VerifyResult(False, 0, None, f"cannot read {self.path}: {exc}"), _Scan([], 0, None, b""), False
        scan = _scan(data)
        n = len(scan.records)
        head = scan.records[-1]["hash"] if scan.records else GENESIS_HASH
        if scan.problem:
            pos, reason = scan.problem
            return VerifyResult(False, n, pos, reason, head), scan, False
        bad = self._check_checkpoint(scan.records)
        if bad:
            return VerifyResult(False, n, bad[0], bad[1], head), scan, False
        if scan.torn:
            return VerifyResult(False, n, n, f"record {n} is torn (an interrupted write left {len(scan.torn)} "
                                              "incomplete bytes); the next append cuts it off and records that",
                                head), scan, True
        return VerifyResult(True, n, None, f"{n} records intact", head), scan, False

    def _check_checkpoint(self, records: list[dict]) -> tuple[int | None, str] | None:
        n = len(records)
        if not self.paths.checkpoint.exists():
            if n == 0:
                return None
            return None, f"the signed checkpoint {self.paths.checkpoint.name} is missing"
        try:
            checkpoint = cp.read_checkpoint(self.paths.checkpoint)
            if self.paths.key.exists():
                public = cp.load_key(self.paths.key).public_key()
            else:
                public = cp.load_public_key(self.paths.public_key)
        except AuditError as exc:
            return None, str(exc)
        if not cp.signature_valid(public, checkpoint):
            return None, "the checkpoint's signature is not valid"
        if checkpoint.count > n:
            return n, (f"the chain ends after {n} records but the signed checkpoint counts {checkpoint.count}: "
                       f"records from {n} on were removed")
        if checkpoint.count and records[checkpoint.count - 1]["hash"] != checkpoint.head_hash:
            return checkpoint.count - 1, (f"record {checkpoint.count - 1} does not match the signed checkpoint's "
                                          "head hash: the chain was rewritten")
        if checkpoint.count == 0 and checkpoint.head_hash != GENESIS_HASH:
            return None, "the checkpoint for an empty chain names a head hash"
        return None

    def records(self, incident_id: str | None = None) -> list[dict]:
        """Complete records in order (a torn tail is left out), optionally one incident's only."""
        with self._lock:
            data = self.path.read_bytes() if self.path.exists() else b""
        out: list[dict] = []
        for line in data.split(b"\n"):
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and (incident_id is None or rec.get("incident_id") == incident_id):
                out.append(rec)
        return out

    def __len__(self) -> int:
        return len(self.records())


class _FlockFile:
    """Context manager holding an exclusive flock on a file (released when the process dies)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def __enter__(self) -> "_FlockFile":
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
