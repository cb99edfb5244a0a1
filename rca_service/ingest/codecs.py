"""zstd, lz4 and snappy request bodies, the other encodings the Collector's `otlphttp` exporter
sends (`compression: zstd | lz4 | snappy`), each inflated without ever holding more than the
limit: zstd and lz4 stream with a bounded read; snappy declares its sizes up front, so they are
summed and checked before anything is inflated.

Snappy comes in two formats under one name: the Collector sends the framed stream as "snappy"
unless its `confighttp.framedSnappy` gate is on (then "snappy" is a raw block and the framed
stream is "x-snappy-framed"). Like the Collector's server, "snappy" looks at the first bytes.
"""

from __future__ import annotations

import io

import cramjam
import lz4.frame
import zstandard

from rca_service.errors import DecodeError, PayloadTooLarge

_SNAPPY_STREAM_ID = b"\xff\x06\x00\x00sNaPpY"


def unzstd(data: bytes, limit: int) -> bytes:
    """Every zstd frame of `data`, at most `limit` bytes in all.

    A bounded streaming read measures the size first (the Collector's streaming writer leaves the
    content size out of the frame header); only a body within the limit is then inflated frame by
    frame, which is what tells a complete frame from a truncated one.
    """
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
        if len(reader.read(limit + 1)) > limit:
            raise PayloadTooLarge.after_decompression(limit)
        parts: list[bytes] = []
        remaining = data
        while remaining:
            inflater = zstandard.ZstdDecompressor().decompressobj()
            parts.append(inflater.decompress(remaining))
            if not inflater.eof:
                raise DecodeError("body is truncated zstd data")
            remaining = inflater.unused_data
    except zstandard.ZstdError as exc:
        raise DecodeError(f"body is not valid zstd data: {exc}") from exc
    return b"".join(parts)


def unlz4(data: bytes, limit: int) -> bytes:
    """Every LZ4 frame of `data` (the frame format, as the Collector writes), at most `limit` bytes."""
    parts: list[bytes] = []
    total = 0
    remaining = data
    while remaining:
        inflater = lz4.frame.LZ4FrameDecompressor()
        try:
            out = inflater.decompress(remaining, max_length=limit - total + 1)
        except RuntimeError as exc:  # lz4.frame reports bad data as RuntimeError
            raise DecodeError(f"body is not valid lz4 data: {exc}") from exc
        total += len(out)
        if total > limit:
            raise PayloadTooLarge.after_decompression(limit)
        if not inflater.eof:
            raise DecodeError("body is truncated lz4 data")
        parts.append(out)
        remaining = inflater.unused_data
    return b"".join(parts)


def unsnappy(data: bytes, limit: int, framed: bool | None = None) -> bytes:
    """A snappy body: the framed stream or one raw block (`framed` None: tell by its first bytes)."""
    if framed is None:
        framed = data.startswith(_SNAPPY_STREAM_ID)
    try:
        size = _framed_size(data) if framed else cramjam.snappy.decompress_raw_len(data)
        if size > limit:
            raise PayloadTooLarge.after_decompression(limit)
        out = cramjam.snappy.decompress(data) if framed else cramjam.snappy.decompress_raw(data)
    except cramjam.DecompressionError as exc:
        raise DecodeError(f"body is not valid snappy data: {exc}") from exc
    return bytes(out)


def _framed_size(data: bytes) -> int:
    """The inflated size a snappy framed stream declares, from its chunk headers."""
    if not data.startswith(_SNAPPY_STREAM_ID):
        raise DecodeError("body is not a snappy framed stream (no stream identifier)")
    total, i = 0, 0
    while i < len(data):
        if i + 4 > len(data):
            raise DecodeError("body is truncated snappy data")
        kind, length = data[i], int.from_bytes(data[i + 1 : i + 4], "little")
        body = data[i + 4 : i + 4 + length]
        if len(body) < length:
            raise DecodeError("body is truncated snappy data")
        if kind == 0x00:  # compressed: 4 bytes of checksum, then a raw block
            total += cramjam.snappy.decompress_raw_len(body[4:])
        elif kind == 0x01:  # uncompressed: 4 bytes of checksum, then the data
            total += max(0, length - 4)
        elif 0x02 <= kind <= 0x7F:
            raise DecodeError(f"body has a reserved snappy chunk type {kind:#04x}")
        i += 4 + length  # 0xff stream identifier, 0x80-0xfe skippable: no data
    return total
