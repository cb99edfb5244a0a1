import numpy as np
import pytest

from rca_service.detect.calibration import CalibrationConfig, Threshold, calibrate, exponential_tail_threshold, pot_threshold
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
    thr = calibrate(np.ones(12), CalibrationConfig(min_points=100), fallback)
    assert thr.method == "global" and thr.value == 7.0


def test_config_validation():
    with pytest.raises(ConfigError):
        CalibrationConfig(risk=0.0)
    with pytest.raises(ConfigError):
        CalibrationConfig.from_dict({"risk": 0.01, "level": 3})


def test_short_history_gets_its_own_tail_threshold_not_the_global_one():
    rng = np.random.default_rng(3)
    cfg = CalibrationConfig(risk=3e-3, min_points=120, min_points_short=30)
    scores = rng.gamma(2.0, 1.0, 50)
    thr = calibrate(scores, cfg, Threshold(50.0, "pot", 1000))
    assert thr.method == "exp-tail" and thr.n == 50
    assert scores.max() <= thr.value < 50.0
    assert calibrate(scores[:20], cfg, Threshold(50.0, "pot", 1000)).method == "global"
    assert calibrate(rng.gamma(2.0, 1.0, 200), cfg).method == "pot"


def test_short_history_tail_errs_towards_fewer_alarms():
    rng = np.random.default_rng(4)
    risk = 3e-3
    big = rng.gamma(2.0, 1.0, 200_000)
    rates = [float(np.mean(big > exponential_tail_threshold(rng.gamma(2.0, 1.0, 50), risk).value)) for _ in range(60)]
    assert float(np.median(rates)) < 2 * risk  # typical history: about the intended rate or below
    assert float(np.mean(rates)) < 4 * risk  # the unlucky short histories do not dominate


def test_short_history_config_validation():
    with pytest.raises(ConfigError):
        CalibrationConfig(min_points=100, min_points_short=200)
