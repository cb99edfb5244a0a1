"""A signed checkpoint of the chain's head, so deleting records from the end is detected.

The hash chain alone proves that each record follows the one before it; it cannot tell that
the last few records were cut off. After every append we therefore write
``{"count": n, "head_hash": h, "signature": s}`` where `s` is an Ed25519 signature over the
canonical JSON of ``{"chain": "rca-service-audit/1", "count": n, "head_hash": h}``.

The key is generated on first use (PKCS#8 PEM, file mode 0600); its public half is written
beside the chain so `audit verify` works without the private key. Whoever can write the key (or
the public key beside the chain) can forge checkpoints, so operators who want more keep the key
outside the data dir (`key_path`) and a copy of the public key somewhere the service cannot write.
The checkpoint file is replaced atomically: write a temporary file, fsync, rename, fsync the dir.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from rca_service.audit.canonical import canonical_bytes
from rca_service.errors import AuditError

CHAIN_ID = "rca-service-audit/1"


@dataclass(frozen=True)
class Checkpoint:
    """The signed head of the chain: `count` records, the last one's hash `head_hash`."""

    count: int
    head_hash: str
    signature: str = ""

    def message(self) -> bytes:
        """The bytes the signature covers."""
        return canonical_bytes({"chain": CHAIN_ID, "count": self.count, "head_hash": self.head_hash})


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename or a new file in it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: temp file in the same dir, fsync, rename, fsync the dir."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def load_or_create_key(key_path: Path) -> Ed25519PrivateKey:
    """Load the Ed25519 signing key, creating it (mode 0600) when it does not exist yet."""
    if key_path.exists():
        return load_key(key_path)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        # O_EXCL: two processes starting at once must not both write a key.
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_key(key_path)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(key_path.parent)
    return key


def load_key(key_path: Path) -> Ed25519PrivateKey:
    """Load an existing signing key; `AuditError` if it is missing or not an Ed25519 key."""
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise AuditError(f"cannot read the audit checkpoint key {key_path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditError(f"{key_path} is not an Ed25519 private key")
    return key


def write_public_key(key: Ed25519PrivateKey, path: Path) -> None:
    """Write the key's public half (PEM) to `path` unless it already holds exactly that."""
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    if not path.exists() or path.read_bytes() != pem:
        atomic_write(path, pem)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Load a public key written by `write_public_key`; `AuditError` if missing or not Ed25519."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise AuditError(f"cannot read the audit checkpoint public key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise AuditError(f"{path} is not an Ed25519 public key")
    return key


def sign(key: Ed25519PrivateKey, count: int, head_hash: str) -> Checkpoint:
    """A checkpoint for `count` records ending in `head_hash`, signed with `key`."""
    unsigned = Checkpoint(count, head_hash)
    return Checkpoint(count, head_hash, key.sign(unsigned.message()).hex())


def write_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Atomically replace the checkpoint file."""
    body = {"count": checkpoint.count, "head_hash": checkpoint.head_hash, "signature": checkpoint.signature}
    atomic_write(path, json.dumps(body, sort_keys=True).encode("utf-8") + b"\n")


def read_checkpoint(path: Path) -> Checkpoint:
    """Read the checkpoint file; `AuditError` if it is unreadable or malformed."""
    try:
        raw = json.loads(path.read_text("utf-8"))
        cp = Checkpoint(int(raw["count"]), str(raw["head_hash"]), str(raw["signature"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AuditError(f"cannot read the audit checkpoint {path}: {exc}") from exc
    if cp.count < 0:
        raise AuditError(f"audit checkpoint {path} has a negative count")
    return cp


def signature_valid(public_key: Ed25519PublicKey, checkpoint: Checkpoint) -> bool:
    """True when the checkpoint's signature is the key's signature over its count and head."""
    try:
        public_key.verify(bytes.fromhex(checkpoint.signature), checkpoint.message())
    except (InvalidSignature, ValueError):
        return False
    return True
