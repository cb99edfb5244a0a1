"""audit stage: the append-only, hash-chained audit log and its verification."""

from rca_service.audit.chain import AuditLog, AuditRecord, VerifyResult, default_chain_path

__all__ = ["AuditLog", "AuditRecord", "VerifyResult", "default_chain_path"]
