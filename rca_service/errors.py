"""Errors raised by rca-service, classified once.

Hierarchy::

    RcaError                      base of everything we raise on purpose
    ├── ConfigError               bad settings or component config (refuse to start)
    ├── InputError                bad input from a client; never retryable
    │   ├── DecodeError           body is not valid protobuf/JSON for the OTLP message
    │   ├── PayloadTooLarge       body over the limit (after decompression too)
    │   └── UnsupportedMediaType  content type we do not speak
    ├── OverloadedError           we are full; the client should retry later (retry_after s)
    ├── NotFoundError             an incident, remediation or record that does not exist
    ├── DatasetError              a benchmark folder that cannot be read at all
    ├── ModelError                a model artifact that is missing or fails its sha256
    ├── PolicyRefusal             a remediation step refused by a named policy rule
    ├── AuthError                 missing or wrong credentials / role
    └── AuditError                the audit chain cannot be written or does not verify
"""

from __future__ import annotations


class RcaError(Exception):
    """Base class of every error rca-service raises on purpose."""


class ConfigError(RcaError):
    """Settings or component configuration that cannot work."""


class InputError(RcaError):
    """Input from a client that we refuse; retrying the same input will not help."""


class DecodeError(InputError):
    """A body that is not a valid message of the expected type."""


class PayloadTooLarge(InputError):
    """A body over the configured size limit (counted after decompression)."""

    def __init__(self, limit: int, message: str | None = None) -> None:
        super().__init__(message or f"request body exceeds the limit of {limit} bytes")
        self.limit = limit

    @classmethod
    def after_decompression(cls, limit: int) -> "PayloadTooLarge":
        """A body that only inflating showed to be over the limit."""
        return cls(limit, f"request body exceeds the limit of {limit} bytes after decompression")


class UnsupportedMediaType(InputError):
    """A content type or encoding we do not speak."""


class OverloadedError(RcaError):
    """We cannot take more work now; the client should retry after `retry_after` seconds."""

    def __init__(self, message: str = "server overloaded, retry later", retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFoundError(RcaError):
    """The thing asked for does not exist."""


class DatasetError(RcaError):
    """A benchmark folder that cannot be read at all."""


class ModelError(RcaError):
    """A model artifact that is missing, malformed or fails its checksum."""


class PolicyRefusal(RcaError):
    """A remediation step refused by a policy rule; `rule` names the rule."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"refused by policy rule '{rule}': {message}")
        self.rule = rule


class AuthError(RcaError):
    """Missing or wrong credentials, or a role that may not do this."""

    def __init__(self, message: str, status_code: int = 401) -> None:
        super().__init__(message)
        self.status_code = status_code


class AuditError(RcaError):
    """The audit chain cannot be written, or does not verify."""
