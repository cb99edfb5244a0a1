import numpy as np
import pytest
import torch

from synth import normal_frames
from rca_service.detect.features import CHANNEL_FEATURES, FeatureConfig, RobustBaseline, encode_frame, sliding_windows
from rca_service.detect.lstm_ae import (
    LSTMAutoencoder,
    LSTMAutoencoderConfig,
    last_step_forward,
    masked_mse,
    reconstruction_errors,
    train,
)
from rca_service.errors import ConfigError, InputError


def test_forward_shapes():
    cfg = LSTMAutoencoderConfig(window=6, hidden=8, latent=3)
    model = LSTMAutoencoder(cfg)
    recon, latent = model(torch.zeros(5, 6, CHANNEL_FEATURES))
    assert recon.shape == (5, 6)
    assert latent.shape == (5, 3)
    with pytest.raises(InputError):
        model(torch.zeros(5, 6, CHANNEL_FEATURES + 1))


def test_config_rejects_unknown_and_bad_values():
    with pytest.raises(ConfigError):
        LSTMAutoencoderConfig.from_dict({"window": 8, "hiden": 3})
    with pytest.raises(ConfigError):
        LSTMAutoencoderConfig(window=1)


def test_masked_loss_ignores_masked_values():
    x = torch.randn(4, 5, CHANNEL_FEATURES)
    x[:, :, 1] = 1.0
    x[:, 2, 1] = 0.0
    recon = torch.zeros(4, 5)
    before = masked_mse(recon, x)
    x2 = x.clone()
    x2[:, 2, 0] = 1e6  # garbage under the mask
    assert torch.isclose(masked_mse(recon, x2), before)


def _encoded(frame, base):
    return encode_frame(frame, base, FeatureConfig())


def test_tiny_model_reconstructs_normal_better_than_anomalous(tiny_detector):
    frame = normal_frames(6, 200, seed=5)[0]
    fit = frame.slice(frame.times[0], frame.times[120])
    base = RobustBaseline.fit(fit.signals, fit.values, FeatureConfig())
    normal = sliding_windows(_encoded(frame.slice(frame.times[120], frame.times[-1] + 60), base), 8)
    shifted_values = frame.values.copy()
    shifted_values[120:, :] = shifted_values[120:, :] * 3 + 5 * base.scale
    shifted = type(frame)(frame.service, 60, frame.times, frame.signals, shifted_values)
    anomalous = sliding_windows(_encoded(shifted.slice(frame.times[120], frame.times[-1] + 60), base), 8)
    e_norm = np.nanmean(reconstruction_errors(tiny_detector.model, normal))
    e_anom = np.nanmean(reconstruction_errors(tiny_detector.model, anomalous))
    assert e_anom > 3 * e_norm


def test_train_rejects_wrong_shape():
    with pytest.raises(InputError):
        train(np.zeros((100, 5, CHANNEL_FEATURES), dtype=np.float32), LSTMAutoencoderConfig(window=6))


@pytest.mark.parametrize("layers", [1, 2])
def test_last_step_forward_equals_the_module_on_its_last_step(layers):
    torch.manual_seed(layers)
    model = LSTMAutoencoder(LSTMAutoencoderConfig(window=7, hidden=12, latent=4, layers=layers)).eval()
    x = torch.randn(300, 7, CHANNEL_FEATURES) * 2
    x[:, :, 1] = (torch.rand(300, 7) > 0.1).float()
    with torch.inference_mode():
        recon, latent = model(x)
    fast_recon, fast_latent = last_step_forward(model, x.transpose(0, 1).numpy())
    assert fast_recon.shape == (300,) and fast_latent.shape == (300, 4)
    np.testing.assert_allclose(fast_recon, recon[:, -1].numpy(), atol=1e-5)
    np.testing.assert_allclose(fast_latent, latent.numpy(), atol=1e-5)
    chunked_recon, chunked_latent = last_step_forward(model, x.transpose(0, 1).numpy(), chunk=64)
    np.testing.assert_allclose(chunked_recon, fast_recon, atol=1e-6)
    np.testing.assert_allclose(chunked_latent, fast_latent, atol=1e-6)
    assert last_step_forward(model, np.zeros((7, 0, CHANNEL_FEATURES), np.float32))[0].shape == (0,)
    with pytest.raises(InputError):
        last_step_forward(model, np.zeros((7, 3, CHANNEL_FEATURES + 1), np.float32))
