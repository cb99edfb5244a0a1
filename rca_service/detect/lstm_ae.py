"""Channel-shared LSTM autoencoder over windows of normalised signals.

After Malhotra et al., "LSTM-based Encoder-Decoder for Multi-sensor Anomaly Detection" (2016),
adapted so one set of weights serves any signal set: every (service, signal) window is one
sequence, conditioned on its signal family and its service's context (see `features.py`).
The anomaly score of a signal at a step is its reconstruction error there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from rca_service.detect.features import CHANNEL_FEATURES, CONTEXT_FEATURES, reject_unknown_keys
from rca_service.errors import ConfigError, InputError


@dataclass
class LSTMAutoencoderConfig:
    """Hyper-parameters of the autoencoder and its training.

    Attributes:
        window: steps per input window.
        hidden: LSTM hidden size (encoder and decoder).
        latent: bottleneck size; small on purpose, so anomalies do not fit through.
        layers: stacked LSTM layers.
        epochs: passes over the training windows.
        batch_size: windows per optimiser step.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        max_windows: cap on training windows (randomly sampled) to keep training short.
        seed: random seed for initialisation and sampling.
    """

    window: int = 10
    hidden: int = 16
    latent: int = 6
    layers: int = 1
    epochs: int = 6
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-5
    max_windows: int = 24000
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("window", "hidden", "latent", "layers", "epochs", "batch_size", "max_windows"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"LSTMAutoencoderConfig.{name} must be >= 1")
        if self.window < 2:
            raise ConfigError("LSTMAutoencoderConfig.window must be >= 2")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError("LSTMAutoencoderConfig: lr must be > 0 and weight_decay >= 0")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LSTMAutoencoderConfig":
        reject_unknown_keys(cls, data)
        return cls(**data)


class LSTMAutoencoder(nn.Module):
    """Encode a channel's window to a small latent vector, decode it back given the context.

    The encoder reads every input feature; the decoder gets only the latent vector and the
    context features (family one-hot, family context and its mask) at each step, never the value
    itself, so it must rebuild the value from what the latent remembered plus what normal
    behaviour given that context looks like.

    Args:
        config: hyper-parameters (`window`, `hidden`, `latent`, `layers`).

    Shapes:
        - input: (N, W, C) float32 channel windows, C = features.CHANNEL_FEATURES; feature 0 is
          the value, feature 1 its mask, the rest context.
        - output: reconstruction (N, W) and latent (N, latent).
    """

    def __init__(self, config: LSTMAutoencoderConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = nn.LSTM(CHANNEL_FEATURES, config.hidden, num_layers=config.layers, batch_first=True)
        self.to_latent = nn.Linear(config.hidden, config.latent)
        self.decoder = nn.LSTM(config.latent + CONTEXT_FEATURES, config.hidden, num_layers=config.layers, batch_first=True)
        self.head = nn.Linear(config.hidden, 1)

    def reset_parameters(self) -> None:
        for module in (self.encoder, self.to_latent, self.decoder, self.head):
            module.reset_parameters()

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """(N, W, C) -> (N, latent)."""
        _, (h, _) = self.encoder(inputs)
        return torch.tanh(self.to_latent(h[-1]))

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if inputs.dim() != 3 or inputs.shape[-1] != CHANNEL_FEATURES:
            raise InputError(f"expected (N, W, {CHANNEL_FEATURES}) input, got {tuple(inputs.shape)}")
        z = self.encode(inputs)
        steps = inputs.shape[1]
        dec_in = torch.cat([z[:, None, :].expand(-1, steps, -1), inputs[:, :, 2:]], dim=-1)
        out, _ = self.decoder(dec_in)
        return self.head(out).squeeze(-1), z

    def __repr__(self) -> str:
        c = self.config
        return f"{self.__class__.__name__}(window={c.window}, hidden={c.hidden}, latent={c.latent}, layers={c.layers})"


def masked_mse(recon: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Mean squared error over observed values only (feature 1 of `inputs` is the mask)."""
    mask = inputs[:, :, 1]
    err = (recon - inputs[:, :, 0]) ** 2 * mask
    return err.sum() / mask.sum().clamp(min=1.0)


@torch.inference_mode()
def reconstruct(model: LSTMAutoencoder, inputs: np.ndarray, batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Run the model on (N, W, C) numpy windows; returns (recon (N, W), latent (N, L))."""
    model.eval()
    if len(inputs) == 0:
        return np.zeros((0, inputs.shape[1] if inputs.ndim == 3 else 0)), np.zeros((0, model.config.latent))
    recons, latents = [], []
    for i in range(0, len(inputs), batch_size):
        r, z = model(torch.from_numpy(np.ascontiguousarray(inputs[i : i + batch_size], dtype=np.float32)))
        recons.append(r.numpy())
        latents.append(z.numpy())
    return np.concatenate(recons), np.concatenate(latents)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with torch limited to `n` intra-op threads (0: as it is), then restore."""
    before = torch.get_num_threads()
    if n <= 0 or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fast_tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh(x) as 2 sigmoid(2x) - 1: this CPU build's tanh kernel is ~4x slower than its sigmoid."""
    return x.mul(2.0).sigmoid_().mul_(2.0).sub_(1.0)


def _last_hidden(gates_in: torch.Tensor, weight_hh: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
    """Run one LSTM layer over time-major input gates and return its last hidden state.

    Args:
        gates_in: (W, N, 4H) input projections of every step, biases included (PyTorch gate
            order: input, forget, cell, output).
        weight_hh: (4H, H) the layer's hidden-to-hidden weights.
        extra: (N, 4H) added to every step's gates (a per-sequence constant input), or None.

    Returns:
        (N, H) hidden state after the last step.
    """
    hid = weight_hh.shape[1]
    w_hh = weight_hh.T.contiguous()
    h = c = None
    for t in range(gates_in.shape[0]):
        g = gates_in[t].clone() if h is None else torch.addmm(gates_in[t], h, w_hh)
        if extra is not None:
            g.add_(extra)
        g[:, 2 * hid : 3 * hid].mul_(2.0)  # the cell gate's tanh, as 2 sigmoid(2x) - 1 below
        s = g.sigmoid_()
        cell = s[:, 2 * hid : 3 * hid].mul(2.0).sub_(1.0)
        c = s[:, :hid] * cell if c is None else torch.addcmul(s[:, :hid] * cell, s[:, hid : 2 * hid], c)
        h = s[:, 3 * hid :] * _fast_tanh(c)
    return h


def last_step_forward(model: LSTMAutoencoder, inputs: np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """The reconstruction of each window's last step only, and the latent, for streaming.

    The same function as `model(...)[0][:, -1]` and its latent (equal to float32 rounding), but
    a step of streaming detection needs nothing else: the decoder's earlier outputs and the head
    over them are skipped, both LSTMs run on time-major input projections computed in one matrix
    product each, and tanh is computed through sigmoid (see `_fast_tanh`). Stacked LSTMs
    (`layers` > 1) go through the module itself.

    Args:
        model: the autoencoder.
        inputs: (W, N, CHANNEL_FEATURES) float32, time-major channel windows
            (`features.time_major_channel_inputs`).
        chunk: channels per pass (bounds the memory of long priming ranges; a step of 50
            services is one pass).

    Returns:
        (reconstruction of the last step (N,), latent (N, latent)), float32.
    """
    model.eval()
    if inputs.ndim != 3 or inputs.shape[2] != CHANNEL_FEATURES:
        raise InputError(f"expected (W, N, {CHANNEL_FEATURES}) input, got {inputs.shape}")
    n = inputs.shape[1]
    if n == 0:
        return np.zeros(0, dtype=np.float32), np.zeros((0, model.config.latent), dtype=np.float32)
    parts = [_last_step_pass(model, inputs[:, i : i + chunk]) for i in range(0, n, max(1, chunk))]
    return np.concatenate([r for r, _ in parts]), np.concatenate([z for _, z in parts])


@torch.inference_mode()
def _last_step_pass(model: LSTMAutoencoder, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`last_step_forward` of one chunk of channels, (W, n, F) -> ((n,), (n, latent))."""
    w, n, f = inputs.shape
    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    if model.config.layers > 1:
        recon, latent = model(x.transpose(0, 1))
        return recon[:, -1].numpy(), latent.numpy()
    enc, dec = model.encoder, model.decoder
    flat = x.reshape(w * n, f)
    gates = torch.addmm(enc.bias_ih_l0 + enc.bias_hh_l0, flat, enc.weight_ih_l0.T.contiguous())
    z = torch.tanh(model.to_latent(_last_hidden(gates.view(w, n, -1), enc.weight_hh_l0)))
    latent = z.shape[1]
    # The decoder reads [latent, inputs[2:]]: the context part is one matrix product over all
    # steps (zero weights for the value and its mask), the latent part a per-channel constant.
    w_ctx = torch.cat([torch.zeros(dec.weight_ih_l0.shape[0], 2), dec.weight_ih_l0[:, latent:]], dim=1)
    ctx_gates = torch.mm(flat, w_ctx.T.contiguous()).view(w, n, -1)
    z_gates = torch.addmm(dec.bias_ih_l0 + dec.bias_hh_l0, z, dec.weight_ih_l0[:, :latent].T)
    h = _last_hidden(ctx_gates, dec.weight_hh_l0, z_gates)
    return model.head(h).squeeze(-1).numpy(), z.numpy()


def reconstruction_errors(model: LSTMAutoencoder, inputs: np.ndarray) -> np.ndarray:
    """Absolute error per window and step, NaN where masked. (N, W, C) -> (N, W)."""
    recon, _ = reconstruct(model, inputs)
    err = np.abs(recon - inputs[:, :, 0])
    return np.where(inputs[:, :, 1] > 0, err, np.nan)


def train(windows: np.ndarray, config: LSTMAutoencoderConfig, progress: bool = False) -> tuple[LSTMAutoencoder, list[float]]:
    """Train a fresh autoencoder on normal channel windows.

    Args:
        windows: (N, W, C) float32 from `features.sliding_windows`, W == config.window.
        config: hyper-parameters.
        progress: show a tqdm progress bar.

    Returns:
        The trained model (eval mode) and the mean training loss of each epoch.

    Raises:
        InputError: windows of the wrong shape, or too few of them.
    """
    if windows.ndim != 3 or windows.shape[1] != config.window or windows.shape[2] != CHANNEL_FEATURES:
        raise InputError(f"training windows must be (N, {config.window}, {CHANNEL_FEATURES}), got {windows.shape}")
    if len(windows) < config.batch_size // 4 + 1:
        raise InputError(f"only {len(windows)} training windows; need at least {config.batch_size // 4 + 1}")
    return _train(windows, config, progress)


def _train(windows: np.ndarray, config: LSTMAutoencoderConfig, progress: bool) -> tuple[LSTMAutoencoder, list[float]]:
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    if len(windows) > config.max_windows:
        windows = windows[rng.choice(len(windows), config.max_windows, replace=False)]
    data = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
    model = LSTMAutoencoder(config)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n_batches = (len(data) + config.batch_size - 1) // config.batch_size
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=config.epochs * n_batches, desc="train detector", unit="batch")
    losses: list[float] = []
    model.train()
    for _ in range(config.epochs):
        perm = torch.from_numpy(rng.permutation(len(data)))
        total = 0.0
        for b in range(n_batches):
            batch = data[perm[b * config.batch_size : (b + 1) * config.batch_size]]
            loss = masked_mse(model(batch)[0], batch)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            total += float(loss.detach())
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
        losses.append(total / n_batches)
    if bar is not None:
        bar.close()
    model.eval()
    return model, losses
