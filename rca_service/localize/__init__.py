"""localize stage: which service caused an incident, how sure we are, and why.

    load_localizer(models_dir, version="latest") -> Localizer        ranker.py
    Localizer.rank(incident, store, anchor=None) -> RCAResult        result.py
    Localizer.artifact_hashes() -> {file: sha256}

Modules: graph.py (incident graph and its features), deviation.py (robust per-signal
deviations), gnn.py (the GATv2 root-cause GNN), trainer.py / train.py (training,
`rca-service train localizer`), synthetic.py + framestore.py (labelled synthetic incidents),
calibration.py (temperature scaling, ECE, inconclusive rule), artifacts.py (versioned files
with sha256), pipeline.py + evaluate.py + metrics.py (`rca-service eval`).
"""
