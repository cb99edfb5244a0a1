"""The streaming detector's per-service scoring path as it was before the batched one.

Kept only as the reference that `step_scoring.score_windows` must reproduce: each service's
window is encoded on its own (`features.encode_frame`), and the windows go through the
autoencoder module's own forward pass (`nn.LSTM`, every step reconstructed), not through
`lstm_ae.last_step_forward`.
"""

from __future__ import annotations

import numpy as np

from rca_service.detect.detector_model import DetectorModel, bounded_error
from rca_service.detect.features import batch_channel_inputs, encode_frame
from rca_service.detect.lstm_ae import reconstruct
from rca_service.detect.incident import Incident
from rca_service.detect.scores import LSTM_AE, ServiceScore, top_signal_scores
from rca_service.detect.streaming import StreamingDetector
from rca_service.store.frames import WindowFrame


class LegacyStreamingDetector(StreamingDetector):
    """`StreamingDetector` scoring each autoencoder service separately (the old hot path)."""

    def _score_step(self, t: float) -> Incident | None:
        width = self.model.window if self.model is not None else 1
        scores: dict[str, ServiceScore] = {}
        rows: dict[str, WindowFrame] = {}
        batch: list[tuple[str, object]] = []
        for service in self.store.services():
            st = self._state(service)
            frame = self._window(service, t, width, self._read(service, t, 1))  # one store read per service
            last = frame.values[-1] if frame.values.size else np.zeros(0)
            if not np.isfinite(last).any():
                continue
            rows[service] = frame
            if not self._observe(st, frame, last, t):
                continue
            if self._uses_model(st):
                enc = encode_frame(frame, st.baseline, self.features)
                past = np.isin(enc.times[:-1], np.asarray(st.anomalous_steps, dtype=np.float64))
                if past.any():
                    enc.mask[:-1][past] = False
                    enc.x[:-1][past] = 0.0
                if enc.mask[-1].any():
                    batch.append((service, enc))
                    continue
            score = self.nsigma.score(service, t, st.baseline, frame.signals, last, st.nsigma_threshold)
            if score is not None:
                scores[service] = score
        if batch:
            errs = _module_errors(self.model, [(e.x, e.mask, e.families) for _, e in batch])
            for (service, enc), (err, recon, latent) in zip(batch, errs):
                scores[service] = self._lstm_score(service, t, enc, err, recon, latent, rows[service])
        return self._update(t, scores, rows)

    def _lstm_score(self, service: str, t: float, enc, err: np.ndarray, recon: np.ndarray, latent: np.ndarray,
                    frame: WindowFrame) -> ServiceScore:
        st = self._states[service]
        self._pending_errors[service] = (enc.signals, err)
        rel = self.model.relative_errors(err, enc.families, st.refs_for(enc.signals))
        raw = float(np.nanmax(rel)) if np.isfinite(rel).any() else 0.0
        thr = st.lstm_threshold or self.model.global_threshold
        values = frame.values[-1, enc.columns]
        med, scl, _ = st.baseline.aligned(enc.signals, self.features)
        expected = med + scl * np.sign(recon) * np.expm1(np.abs(recon))
        top = top_signal_scores(enc.signals, rel / thr.value, rel, values, expected, self.config.top_signals)
        vec = [float(v) for v in latent]
        if self.on_latent is not None:
            self.on_latent(service, t, vec)
        hot = tuple(enc.signals[j] for j in np.flatnonzero(rel > thr.value))
        return ServiceScore(service, float(t), raw / thr.value, raw, thr.value, thr.method, LSTM_AE, top, vec, hot)


def _module_errors(model: DetectorModel, windows: list) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """What `DetectorModel.errors` computed before `last_step_forward`: the module's forward pass."""
    recon, latent = reconstruct(model.model, batch_channel_inputs(windows))
    out, start = [], 0
    for x, m, f in windows:
        n = f.shape[0]
        r = recon[start : start + n, -1]
        out.append((np.where(m[-1], bounded_error(r, x[-1]), np.nan), r, latent[start : start + n].mean(axis=0)))
        start += n
    return out
