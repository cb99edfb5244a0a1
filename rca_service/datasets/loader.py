"""One entry point for every benchmark layout: `load_cases(format, path)`, `load_normal(format, path)`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from rca_service.datasets import nezha, rcaeval
from rca_service.datasets.case import CaseRef
from rca_service.datasets.config import AdapterConfig
from rca_service.errors import DatasetError
from rca_service.records import RecordBatch

# "sim" is our simulator's dataset mode, written in the RCAEval multi-source layout.
FORMATS = ("nezha", "rcaeval", "sim")


def _module(fmt: str):
    if fmt == "nezha":
        return nezha
    if fmt in ("rcaeval", "sim"):
        return rcaeval
    raise DatasetError(f"unknown dataset format {fmt!r}; known: {', '.join(FORMATS)}")


def load_cases(fmt: str, path: Path | str, config: AdapterConfig | None = None) -> list[CaseRef]:
    """Lazy references to every labelled case of a benchmark folder.

    Args:
        fmt: "nezha", "rcaeval" or "sim".
        path: the folder (any level that contains the cases).
        config: window and sampling; defaults per format (Nezha: 30 min before to 10 min after
            each fault; RCAEval/sim: each case's whole data).

    Raises:
        DatasetError: unknown format, or a folder with no case in it.
    """
    return _module(fmt).load_cases(Path(path), config)


def load_normal(fmt: str, path: Path | str, config: AdapterConfig | None = None) -> Iterator[RecordBatch]:
    """Fault-free telemetry of a benchmark folder, as record batches (an iterator).

    Nezha: construct_data/<day> minus the time around each fault; RCAEval and sim: each
    case's data before its injection time.
    """
    return _module(fmt).load_normal(Path(path), config)
