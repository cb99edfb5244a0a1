"""Request-body encodings: each one round-trips, and none lets a small body inflate past the
limit, hides a truncation, or takes junk for data."""

from __future__ import annotations

import gzip
import subprocess
import sys
import zlib

import cramjam
import lz4.frame
import pytest
import zstandard

from rca_service.errors import DecodeError, PayloadTooLarge
from rca_service.ingest.body import SUPPORTED_ENCODINGS, decompress

DATA = b"".join(b"span %d of checkout took %d ms\n" % (i, i % 97) for i in range(3000))


def _zstd_streamed(data: bytes) -> bytes:
    """As a streaming writer makes it (like the Collector's): no content size in the header."""
    c = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    return c.compress(data) + c.flush()


COMPRESS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "zstd": _zstd_streamed,
    "lz4": lz4.frame.compress,
    "snappy": lambda d: bytes(cramjam.snappy.compress(d)),  # framed, the Collector's default
    "x-snappy-framed": lambda d: bytes(cramjam.snappy.compress(d)),
}


@pytest.mark.parametrize("encoding", sorted(COMPRESS))
def test_round_trip(encoding):
    assert decompress(COMPRESS[encoding](DATA), encoding.upper(), limit=len(DATA)) == DATA


def test_snappy_raw_block_is_told_from_the_framed_stream():
    assert decompress(bytes(cramjam.snappy.compress_raw(DATA)), "snappy", limit=len(DATA)) == DATA
    with pytest.raises(DecodeError, match="snappy"):  # a raw block is not a framed stream
        decompress(bytes(cramjam.snappy.compress_raw(DATA)), "x-snappy-framed", limit=len(DATA))


@pytest.mark.parametrize("encoding", ["zstd", "lz4"])
def test_concatenated_frames_are_all_read(encoding):
    assert decompress(COMPRESS[encoding](DATA) * 2, encoding, limit=2 * len(DATA)) == DATA * 2


@pytest.mark.parametrize("encoding", sorted(COMPRESS))
def test_one_byte_over_the_limit_is_413(encoding):
    with pytest.raises(PayloadTooLarge, match="after decompression"):
        decompress(COMPRESS[encoding](DATA), encoding, limit=len(DATA) - 1)


_BOMB = """
import resource, sys
import cramjam, lz4.frame, zstandard
from rca_service.errors import PayloadTooLarge
from rca_service.ingest.body import decompress
encoding = sys.argv[1]
zeros = b"\\x00" * (64 * 1024 * 1024)
if encoding == "snappy":  # snappy cannot shrink more than ~21x: one big framed stream
    bomb = bytes(cramjam.snappy.compress(zeros * 4))
else:  # 1024 copies of one small frame: 64 GiB once inflated
    one = zstandard.ZstdCompressor().compress(zeros) if encoding == "zstd" else lz4.frame.compress(zeros)
    bomb = one * 1024
del zeros
resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31))  # 2 GiB: inflating it all would die here
try:
    decompress(bomb, encoding, limit=16 * 1024 * 1024)
except PayloadTooLarge:
    print("refused")
"""


@pytest.mark.parametrize("encoding", ["zstd", "lz4", "snappy"])
def test_a_bomb_is_refused_without_inflating_it(encoding):
    # in a child process whose address space is capped far below what the bomb inflates to
    out = subprocess.run([sys.executable, "-c", _BOMB, encoding], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "refused", out.stderr[-2000:]


@pytest.mark.parametrize("encoding", sorted(COMPRESS))
def test_truncated_body_is_a_decode_error(encoding):
    body = COMPRESS[encoding](DATA)
    with pytest.raises(DecodeError):
        decompress(body[: len(body) // 2], encoding, limit=len(DATA))


@pytest.mark.parametrize("encoding", sorted(COMPRESS))
def test_junk_is_a_decode_error(encoding):
    with pytest.raises(DecodeError):
        decompress(b"\x02\x00\x00\x05not compressed at all", encoding, limit=len(DATA))


def test_unknown_encoding_names_the_supported_ones():
    with pytest.raises(DecodeError) as info:
        decompress(DATA, "br", limit=len(DATA))
    assert all(name in str(info.value) for name in SUPPORTED_ENCODINGS)
