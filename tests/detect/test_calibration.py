import numpy as np
import pytest

from rca_service.detect.calibration import CalibrationConfig, Threshold, calibrate, pot_threshold
from rca_service.errors import ConfigError


@pytest.mark.parametrize("dist", ["gamma", "lognormal"])
def test_pot_gives_intended_false_alarm_rate(dist):
    rng = np.random.default_rng(0)
    draw = (lambda n: rng.gamma(2.0, 1.0, n)) if dist == "gamma" else (lambda n: rng.lognormal(0, 0.5, n))
    risk = 1e-3
    thr = pot_threshold(draw(5000), risk, 0.95)  # fewer than 10/risk points: the tail is extrapolated
    assert thr.method == "pot"
    rate = float(np.mean(draw(400_000) > thr.value))
    assert risk / 3 < rate < risk * 3


def test_few_points_fall_back_to_global():
    fallback = Threshold(7.0, "pot", 1000)
    thr = calibrate(np.ones(20), CalibrationConfig(min_points=100), fallback)
    assert thr.method == "global" and thr.value == 7.0


def test_config_validation():
    with pytest.raises(ConfigError):
        CalibrationConfig(risk=0.0)
    with pytest.raises(ConfigError):
        CalibrationConfig.from_dict({"risk": 0.01, "level": 3})
