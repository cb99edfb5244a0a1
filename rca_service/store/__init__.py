"""store stage: windows, topology, log templates, changes and vectors.

Modules:
    api.py          the interface detect/localize/respond read through (contract)
    frames.py       WindowFrame and the signal names (contract)
    config.py       StoreConfig
    telemetry.py    TelemetryStore: the RecordSink + TelemetryStoreAPI implementation
    windows.py      per-service, per-step accumulators and the step table
    sketch.py       bounded latency quantile sketch
    spans.py        the span hot path (statistics, evidence samples, call edges)
    pairing.py      parent/child pairing state for the service graph
    metrics.py      metric points into per-step series; series naming
    templates.py    log counts and drain3 templates per service
    changes.py      change events, deploys derived from resource versions
    persistence.py  save/load as gzip JSON
    vectors.py      VectorStore on Qdrant (local or server mode), background embedding
    embedder.py     MiniLM embedder (offline package), hashing fallback
"""
