"""Request bodies: content encodings and the size limit, applied while decompressing.

The limit counts decompressed bytes and stops inflating as soon as it is crossed, so a small
gzip bomb costs at most `limit` bytes of memory before it is refused (zstd, lz4 and snappy: see
`codecs.py`).
"""

from __future__ import annotations

import zlib

from rca_service.errors import DecodeError, PayloadTooLarge
from rca_service.ingest.codecs import unlz4, unsnappy, unzstd

_GZIP = 16 + zlib.MAX_WBITS
_ZLIB = zlib.MAX_WBITS
_RAW_DEFLATE = -zlib.MAX_WBITS

#: Content-Encoding values we accept (lowercase). Anything else is a 400, as in the Collector.
SUPPORTED_ENCODINGS = ("identity", "gzip", "x-gzip", "deflate", "zlib", "zstd", "lz4", "snappy", "x-snappy-framed")


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo `Content-Encoding`, refusing more than `limit` bytes of output.

    Args:
        body: the raw request body.
        encoding: the Content-Encoding header (None or "" for none). "deflate" accepts both
            zlib-wrapped (RFC 9110) and raw deflate streams, since clients send either.
        limit: most bytes allowed after decompression.

    Raises:
        PayloadTooLarge: the body is, or inflates to, more than `limit` bytes.
        DecodeError: an unsupported encoding, or data that is not in that encoding.
    """
    name = (encoding or "identity").strip().lower()
    if name == "identity":
        if len(body) > limit:
            raise PayloadTooLarge(limit)
        return body
    if name in ("gzip", "x-gzip"):
        return _inflate(body, _GZIP, limit, name)
    if name in ("deflate", "zlib"):
        try:
            return _inflate(body, _ZLIB, limit, name)
        except DecodeError:
            return _inflate(body, _RAW_DEFLATE, limit, name)
    if name == "zstd":
        return unzstd(body, limit)
    if name == "lz4":
        return unlz4(body, limit)
    if name in ("snappy", "x-snappy-framed"):
        return unsnappy(body, limit, framed=True if name == "x-snappy-framed" else None)
    raise DecodeError(f"unsupported Content-Encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}")


def _inflate(data: bytes, wbits: int, limit: int, name: str) -> bytes:
    """Inflate possibly several concatenated members, never producing more than limit+1 bytes."""
    parts: list[bytes] = []
    total = 0
    remaining = data
    while True:
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(remaining, limit - total + 1)
        except zlib.error as exc:
            raise DecodeError(f"body is not valid {name} data: {exc}") from exc
        total += len(out)
        if total > limit or inflater.unconsumed_tail:
            raise PayloadTooLarge.after_decompression(limit)
        parts.append(out)
        if not inflater.eof:
            raise DecodeError(f"body is truncated {name} data")
        remaining = inflater.unused_data
        # Only gzip defines concatenated members; trailing bytes after a zlib stream are junk.
        if not remaining or wbits != _GZIP:
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)
