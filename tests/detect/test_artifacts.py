import numpy as np
import pytest

from synth import normal_frames
from rca_service.detect.detector_model import DetectorModel, load_detector
from rca_service.detect.scoring import score_frame
from rca_service.errors import ModelError


def test_save_load_round_trip_checks_sha256(tiny_detector, tmp_path):
    root = tmp_path / "detector"
    sha = tiny_detector.save(root / "v9", "v9", "# card\n")
    (root / "LATEST").write_text("v9\n")
    loaded = load_detector(tmp_path, "latest")
    assert loaded.version == "v9" and loaded.sha256 == sha
    frame = normal_frames(2, 80, seed=3)[0]
    hist = frame.slice(frame.times[0], frame.times[50])
    a = score_frame(frame, tiny_detector, hist)
    b = score_frame(frame, loaded, hist)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)
    assert a.detector == "lstm_ae" and a.scores.shape == (80, len(a.signals))


def test_tampered_weights_are_refused(tiny_detector, tmp_path):
    folder = tmp_path / "detector" / "v1"
    tiny_detector.save(folder, "v1", "# card\n")
    data = bytearray((folder / "weights.pt").read_bytes())
    data[-20] ^= 0xFF
    (folder / "weights.pt").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        DetectorModel.load(folder)


def test_missing_version_is_a_model_error(tmp_path):
    with pytest.raises(ModelError):
        load_detector(tmp_path, "latest")
    (tmp_path / "detector").mkdir()
    with pytest.raises(ModelError):
        load_detector(tmp_path, "v404")


def test_score_frame_without_model_uses_nsigma():
    frame = normal_frames(1, 80, seed=4)[0]
    sf = score_frame(frame, None, frame.slice(frame.times[0], frame.times[60]))
    assert sf.detector == "nsigma"
    assert np.nanmax(sf.service_scores[:60]) < 1.5
    assert sf.top_signals(2)
