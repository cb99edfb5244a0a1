import warnings

import numpy as np
import pytest

from synth import make_frame
from rca_service.detect.features import (
    CHANNEL_FEATURES,
    FAMILIES,
    FeatureConfig,
    RobustBaseline,
    batch_channel_inputs,
    channel_inputs,
    column_nanmedians,
    encode_frame,
)


def test_flat_signal_does_not_explode():
    rng = np.random.default_rng(0)
    vals = np.column_stack([np.zeros(100), np.full(100, 512.0), rng.normal(10, 1, 100)])
    base = RobustBaseline.fit(["span.error_rate", "metric.memory_limit", "metric.cpu"], vals)
    z, mask = base.zscores(base.signals, np.array([[0.0, 512.0, 10.0], [0.0, 513.0, 10.0]]), FeatureConfig())
    assert mask.all()
    assert abs(z[1, 1]) < 0.1  # 1 MiB on 512 MiB is nothing, despite MAD == 0
    assert base.scale[0] >= FeatureConfig().abs_floor


def test_missing_values_are_masked_not_zero():
    vals = np.random.default_rng(1).normal(100, 5, (60, 2))
    frame = make_frame("a", ["metric.cpu", "metric.mem"], vals)
    base = RobustBaseline.fit(frame.signals, vals)
    test = vals[:5].copy()
    test[2, 0] = np.nan
    enc = encode_frame(make_frame("a", frame.signals, test), base, FeatureConfig())
    assert not enc.mask[2, 0] and enc.mask[2, 1]
    assert enc.x[2, 0] == 0.0


def test_signal_without_history_is_dropped():
    vals = np.random.default_rng(2).normal(1, 0.1, (60, 1))
    base = RobustBaseline.fit(["metric.cpu"], vals)
    frame = make_frame("a", ["metric.cpu", "log.count"], np.column_stack([vals[:4, 0], [1, 2, 3, 4]]))
    enc = encode_frame(frame, base, FeatureConfig())
    assert enc.signals == ["metric.cpu"]


def test_context_excludes_the_channel_and_masked_values():
    x = np.array([[1.0, 3.0, 100.0]])
    mask = np.array([[True, True, False]])
    fam = np.array([0, 0, 0])
    ch = channel_inputs(x, mask, fam)
    assert ch.shape == (3, 1, CHANNEL_FEATURES)
    ctx0 = 2 + len(FAMILIES)
    assert ch[0, 0, ctx0] == 3.0  # channel 0 sees only channel 1 (channel 2 is masked)
    assert ch[1, 0, ctx0] == 1.0
    assert ch[2, 0, ctx0] == 2.0


def test_batched_inputs_keep_each_service_context_apart():
    rng = np.random.default_rng(3)
    windows = []
    for s in (3, 1, 4):
        x = rng.normal(0, 1, (5, s))
        mask = rng.random((5, s)) > 0.2
        windows.append((np.where(mask, x, 0.0), mask, rng.integers(0, 3, s)))
    batched = batch_channel_inputs(windows)
    one_by_one = np.concatenate([channel_inputs(*w) for w in windows])
    assert batched.shape == (8, 5, CHANNEL_FEATURES)
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-6, atol=1e-6)
    # the single-channel service has no context at all, whatever the others hold
    assert not batched[3, :, 2 + 2 * len(FAMILIES):].any()


def test_moving_medians_updates_cached_alignment():
    vals = np.random.default_rng(4).normal(10, 1, (60, 2))
    base = RobustBaseline.fit(["metric.a", "metric.b"], vals)
    cfg = FeatureConfig()
    z0, _ = base.zscores(["metric.b"], np.array([[20.0]]), cfg)
    base.set_medians(["metric.b"], np.array([20.0]))
    z1, _ = base.zscores(["metric.b"], np.array([[20.0]]), cfg)
    assert z0[0, 0] > 5 and z1[0, 0] == 0.0


def test_column_nanmedians_equal_numpy_nanmedian():
    rng = np.random.default_rng(4)
    for rows in (1, 2, 7, 60):
        m = rng.normal(0, 100, (rows, 6))
        m[rng.random(m.shape) < 0.3] = np.nan
        m[:, 5] = np.nan  # a signal never seen: NaN, no warning
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = np.nanmedian(m, axis=0)
        np.testing.assert_array_equal(column_nanmedians(m), expected)
    assert column_nanmedians(np.zeros((0, 3))).shape == (3,)


def test_a_success_share_at_its_ceiling_is_scaled_like_the_error_rate_it_implies():
    cfg = FeatureConfig()
    history = np.column_stack([np.full(120, 100.0), np.full(120, 1.0), np.full(120, 100.0), np.zeros(120)])
    signals = ["metric.front_success_rate_pct", "metric.success_ratio", "metric.cpu_usage_rate_pct", "span.error_rate"]
    base = RobustBaseline.fit(signals, history, cfg)
    # a drop to 97% (percent) or 0.97 (fraction) weighs as a 3% error rate does
    z, _ = base.zscores(signals, np.array([[97.0, 0.97, 97.0, 0.03]]), cfg)
    assert z[0, 0] == pytest.approx(-30.0) and z[0, 1] == pytest.approx(-30.0) and z[0, 3] == pytest.approx(30.0)
    # any other signal keeps its floor relative to its size: 3% of 100 is well inside it
    assert abs(z[0, 2]) < 1.0
    # a success share that is noisy in normal data keeps its noise as its scale
    noisy = np.random.default_rng(0).normal(95.0, 2.0, (400, 1))
    base = RobustBaseline.fit(signals[:1], noisy, cfg)
    assert base.scale[0] == pytest.approx(2.0, rel=0.15)
