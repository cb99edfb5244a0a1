"""detect stage: LSTM-autoencoder anomaly detection that opens incidents.

Public API (imported from the modules, so `import rca_service.detect.incident` stays light):

    detector_model.load_detector(models_dir, version="latest") -> DetectorModel   sha256-checked
    streaming.StreamingDetector(store, DetectConfig(...), model=None, on_latent=None)
        .step(now=None) -> list[Incident]    .incidents(status=None)    .get(id)
        .latest_scores() -> {service: ServiceScore}    .save(dir) / .load(dir)    .prime(start, end)
        .baseline(service)    .signal_refs(service)    .threshold(service)
    scoring.score_frame(frame, model, history, threshold=None, features=None, nsigma=None,
                        signal_refs=None) -> ScoreFrame
    train.train_command(args) -> int      (`rca-service train detector ...`)

Modules: features (normalisation, masks, channel inputs), lstm_ae (the model), calibration (POT
thresholds), nsigma (cold start), fitting (training a DetectorModel), scores (result types).
"""
