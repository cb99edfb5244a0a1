"""`rca-service audit verify [--data-dir D] [--json]`.

Exit codes: 0 the chain is intact (an absent chain counts as an empty, intact one);
1 the chain does not verify (the message names the first bad record and why).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rca_service.audit.chain import AuditLog, default_chain_path

EXIT_OK = 0
EXIT_BROKEN = 1


def verify_command(args: argparse.Namespace) -> int:
    """Verify ``<data_dir>/audit/chain.jsonl`` and its signed checkpoint; print the outcome."""
    data_dir = getattr(args, "data_dir", None)
    if data_dir is None:
        from rca_service.settings import Settings

        data_dir = Settings().data_dir
    path = default_chain_path(Path(data_dir))
    result = AuditLog(path).verify()
    if getattr(args, "json", False):
        print(json.dumps({**result.to_dict(), "path": str(path)}))
    elif result.ok:
        print(f"audit chain OK: {result.records} records, head {result.head_hash[:16]} ({path})")
    else:
        where = f"record {result.first_bad}" if result.first_bad is not None else "chain"
        print(f"audit chain BROKEN at {where}: {result.reason} ({path})", file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_BROKEN
