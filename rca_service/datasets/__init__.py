"""Benchmark datasets and replay: adapters that turn labelled benchmark folders into records.

    load_cases(format, path) -> list[CaseRef]     format: "nezha" | "rcaeval" | "sim"
    CaseRef.load(start=None, end=None) -> Case    records (RecordBatch) + label kept apart
    load_normal(format, path) -> Iterator[RecordBatch]   fault-free periods
"""

from rca_service.datasets.case import Case, CaseRef
from rca_service.datasets.config import AdapterConfig
from rca_service.datasets.loader import FORMATS, load_cases, load_normal

__all__ = ["AdapterConfig", "Case", "CaseRef", "FORMATS", "load_cases", "load_normal"]
