"""From a `WindowFrame` to the detector's input: robust per-service normalisation, masks, families.

One model has to serve services with different signal sets and scales, on systems it never saw.
We do it in three moves:

1. **Normalise each signal by its own service's normal history** (`RobustBaseline`): a robust
   z-score ``(x - median) / scale`` where the scale is the largest of the MAD-sigma, the
   IQR-sigma, a share of the standard deviation and a share of ``|median|``. The floors keep
   flat signals (an error rate that is always 0, a constant memory limit) from turning a tiny
   wiggle into a huge z.
2. **Compress the tails** with ``sign(z) * log1p(|z|)``: operational metrics are heavy-tailed, so a
   z of 200 in normal data is common; the log keeps training stable and errors comparable.
3. **Make signals channels, not columns.** Every (service, signal) pair is one channel fed to a
   channel-shared encoder together with (a) the signal's family as a one-hot (latency, errors,
   traffic, resource, network, logs, change, other — from `store.frames.signal_family`) and
   (b) the service context: per family, the mean compressed z of the service's *other* signals at
   that step, with a mask for families the service lacks. So one set of weights fits any signal
   set, and it still sees whether, say, CPU rose together with traffic (normal) or alone (not).

Missing values never pretend to be zeros: every value carries a mask bit, masked values are
set to 0 only as a placeholder and do not count in the loss, in the context or in the score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from functools import lru_cache

import numpy as np

from rca_service.errors import ConfigError, InputError
from rca_service.store.frames import WindowFrame, signal_family

FAMILIES: tuple[str, ...] = ("latency", "errors", "traffic", "resource", "network", "logs", "change", "other")
N_FAMILIES = len(FAMILIES)
_FAMILY_INDEX = {f: i for i, f in enumerate(FAMILIES)}

# Per step, per channel: value, its mask, family one-hot, family context (F) and context mask (F).
CHANNEL_FEATURES = 2 + 3 * N_FAMILIES
# The decoder is conditioned on everything except the channel's own value and mask.
CONTEXT_FEATURES = 3 * N_FAMILIES


def reject_unknown_keys(cls: type, data: dict) -> None:
    """Raise ConfigError when `data` has keys that are not fields of the dataclass `cls`."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown keys {unknown}; known: {sorted(known)}")


@dataclass
class FeatureConfig:
    """How frames become model input.

    Attributes:
        min_history: steps of a signal's normal history needed before it is normalised; signals
            with less are masked (there is nothing to compare them with yet).
        mad_floor_rel: the scale is at least this share of |median| (flat but non-zero signals).
        std_floor_rel: the scale is at least this share of the normal standard deviation
            (signals that are flat most of the time with occasional bursts: MAD = 0).
        abs_floor: the scale is at least this (signals that are always exactly 0).
        z_clip: |z| is clipped here before compression so one absurd value cannot overflow.
    """

    min_history: int = 20
    mad_floor_rel: float = 0.05
    std_floor_rel: float = 0.25
    abs_floor: float = 1e-3
    z_clip: float = 1e6

    def __post_init__(self) -> None:
        if self.min_history < 3:
            raise ConfigError("FeatureConfig.min_history must be >= 3")
        for name in ("mad_floor_rel", "std_floor_rel", "abs_floor", "z_clip"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"FeatureConfig.{name} must be > 0")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureConfig":
        reject_unknown_keys(cls, data)
        return cls(**data)


@lru_cache(maxsize=65536)
def family_index(signal: str) -> int:
    """Index of the signal's family in FAMILIES (cached: it runs for every signal every step)."""
    return _FAMILY_INDEX.get(signal_family(signal), _FAMILY_INDEX["other"])


def compress(z: np.ndarray) -> np.ndarray:
    """sign(z) * log1p(|z|): keeps order, tames heavy tails."""
    return np.sign(z) * np.log1p(np.abs(z))


def expand(x: np.ndarray) -> np.ndarray:
    """Inverse of `compress`."""
    return np.sign(x) * np.expm1(np.abs(x))


def normalise(values: np.ndarray, median: np.ndarray, scale: np.ndarray, known: np.ndarray | None,
              config: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """Robust z-scores of (T, S) values against per-column median and scale.

    Columns may belong to different services (the streaming detector normalises every
    service's window in one pass); `known` (S,) False masks a column without a baseline.

    Returns:
        (z, mask): both (T, S); z is 0 where mask is False (missing value or no baseline).
    """
    mask = np.isfinite(values)
    if known is not None:
        mask &= known[None, :]
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf are masked out right here
        z = np.where(mask, (values - median) / scale, 0.0)
    np.clip(z, -config.z_clip, config.z_clip, out=z)
    return z, mask


def column_nanmedians(values: np.ndarray) -> np.ndarray:
    """Median of each column of a (T, S) matrix ignoring NaN (NaN for an all-NaN column).

    Equal to `np.nanmedian(values, axis=0)` (the mean of the two middle values for an even
    count), without its masked-array path, which costs about a millisecond per call on the
    small matrices the detector refits every few steps.
    """
    values = np.asarray(values, dtype=np.float64)
    t, s = values.shape
    out = np.full(s, np.nan)
    if t == 0 or s == 0:
        return out
    ordered = np.sort(values.T, axis=1)  # per signal, NaN last (rows sort faster than columns)
    count = t - np.isnan(values).sum(axis=0)
    ok = count > 0
    rows = np.flatnonzero(ok)
    low = ordered[rows, (count[ok] - 1) // 2]
    high = ordered[rows, count[ok] // 2]
    out[ok] = (low + high) / 2.0
    return out


def is_success_share(signal: str) -> bool:
    """A share of good outcomes (a success rate or ratio, in percent or as a fraction)."""
    return "success" in signal.lower() and signal_family(signal) == "errors"


def _floor_terms(signals: list[str], median: np.ndarray, config: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per signal, the size its relative scale floor is taken of, and its absolute floor.

    For most signals the size is |median|. A success share is the complement of an error rate:
    at 100% its size is what it falls short of the whole (0), so a drop to 97% weighs as a 3%
    error rate does, not as 3% of a large value (a 5% floor of 100 would hide it). Its absolute
    floor is the error rate's, on the share's own scale (percent or fraction, from the median).
    """
    size = np.abs(median)
    abs_floor = np.full(len(median), config.abs_floor)
    for j, signal in enumerate(signals):
        if is_success_share(signal) and np.isfinite(median[j]):
            whole = 100.0 if median[j] > 1.0 else 1.0
            size[j] = max(whole - median[j], 0.0)
            abs_floor[j] = config.abs_floor * whole
    return size, abs_floor


@dataclass
class RobustBaseline:
    """Per-signal median and scale of one service's normal history.

    Attributes:
        signals: names, in the order of `median` and `scale`.
        median: (S,) medians.
        scale: (S,) robust scales (> 0).
        count: (S,) how many normal values each was fitted on.
    """

    signals: list[str]
    median: np.ndarray
    scale: np.ndarray
    count: np.ndarray

    @classmethod
    def fit(cls, signals: list[str], values: np.ndarray, config: FeatureConfig | None = None) -> "RobustBaseline":
        """Fit from a (T, S) matrix of normal values (NaN = missing).

        Signals with fewer than `config.min_history` values are kept with count < min_history and
        are masked by `transform`.
        """
        config = config or FeatureConfig()
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(signals):
            raise InputError(f"baseline values must be (T, {len(signals)}), got {values.shape}")
        count = np.sum(np.isfinite(values), axis=0)
        s = len(signals)
        median = np.zeros(s)
        scale = np.ones(s)
        ok = count > 0
        if ok.any():
            v = values[:, ok]
            with np.errstate(all="ignore"):
                med = np.nanmedian(v, axis=0)
                mad = np.nanmedian(np.abs(v - med), axis=0) * 1.4826
                q75, q25 = np.nanpercentile(v, [75, 25], axis=0)
                iqr = (q75 - q25) / 1.349
                std = np.nanstd(v, axis=0)
            size, abs_floor = _floor_terms([sig for sig, k in zip(signals, ok) if k], med, config)
            floor = np.maximum(config.mad_floor_rel * size, config.std_floor_rel * std)
            median[ok] = med
            scale[ok] = np.maximum.reduce([mad, iqr, floor, abs_floor])
        return cls(list(signals), median, scale, count.astype(np.int64))

    def usable(self, config: FeatureConfig) -> set[str]:
        """Signals with enough history to be normalised (cached: scored every step)."""
        key = ("usable", config.min_history)
        cache = self.__dict__.setdefault("_cache", {})
        if key not in cache:
            cache[key] = {s for s, c in zip(self.signals, self.count) if c >= config.min_history}
        return cache[key]

    def index(self) -> dict[str, int]:
        """Signal name -> column (cached)."""
        cache = self.__dict__.setdefault("_cache", {})
        if "index" not in cache:
            cache["index"] = {s: i for i, s in enumerate(self.signals)}
        return cache["index"]

    def aligned(self, signals: list[str] | tuple[str, ...], config: FeatureConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(median, scale, known) aligned to `signals` (cached per signal list: scored every step).

        `known` is False for signals without enough history; their median is 0 and scale 1.
        """
        key = ("aligned", tuple(signals), config.min_history)
        cache = self.__dict__.setdefault("_cache", {})
        if key not in cache:
            cache[key] = self._aligned(self._columns(signals), config)
        return cache[key]

    def _columns(self, signals: list[str] | tuple[str, ...]) -> np.ndarray:
        """Column of each of `signals` in this baseline, -1 where it has none (cached)."""
        key = ("columns", tuple(signals))
        cache = self.__dict__.setdefault("_cache", {})
        if key not in cache:
            index = self.index()
            cache[key] = np.array([index.get(sig, -1) for sig in signals], dtype=np.int64)
        return cache[key]

    def _aligned(self, columns: np.ndarray, config: FeatureConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        known = columns >= 0
        known[known] = self.count[columns[known]] >= config.min_history
        med = np.zeros(len(columns))
        scl = np.ones(len(columns))
        med[known] = self.median[columns[known]]
        scl[known] = self.scale[columns[known]]
        return med, scl, known

    def kept(self, signals: list[str] | tuple[str, ...], config: FeatureConfig) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Of `signals`, those with enough history: (column indices, names, family indices); cached."""
        key = ("kept", tuple(signals), config.min_history)
        cache = self.__dict__.setdefault("_cache", {})
        if key not in cache:
            usable = self.usable(config)
            keep = [j for j, s in enumerate(signals) if s in usable]
            names = [signals[j] for j in keep]
            cache[key] = (np.array(keep, dtype=np.int64), names, np.array([family_index(s) for s in names], dtype=np.int64))
        return cache[key]

    def set_medians(self, signals: list[str], medians: np.ndarray) -> None:
        """Move the medians of `signals` (the location follows recent steps); scales stay."""
        columns = self._columns(signals)
        known = columns >= 0
        self.median[columns[known]] = np.asarray(medians, dtype=np.float64)[known]
        cache = self.__dict__.get("_cache", {})
        for key in [k for k in cache if k[0] == "aligned"]:
            del cache[key]

    def zscores(self, signals: list[str], values: np.ndarray, config: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
        """Robust z-scores of a (T, S) matrix whose columns are `signals`.

        Returns:
            (z, mask): both (T, S); z is 0 where mask is False (missing value or no baseline).
        """
        t = values.shape[0]
        med, scl, known = self.aligned(signals, config)
        z, mask = normalise(values, med, scl, known, config)
        return z.reshape(t, len(signals)), mask

    def to_dict(self) -> dict:
        return {"signals": self.signals, "median": self.median.tolist(), "scale": self.scale.tolist(), "count": self.count.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "RobustBaseline":
        return cls(list(d["signals"]), np.asarray(d["median"], float), np.asarray(d["scale"], float), np.asarray(d["count"], np.int64))


@dataclass
class EncodedFrame:
    """A frame in model space.

    Attributes:
        service: the service.
        times: (T,) step starts.
        signals: the S signals kept (those with a baseline).
        z: (T, S) robust z-scores (0 where masked).
        x: (T, S) compressed z (0 where masked).
        mask: (T, S) True where the value is real and normalisable.
        families: (S,) family index of each signal.
        columns: (S,) column of each kept signal in the source frame (None when unknown).
    """

    service: str
    times: np.ndarray
    signals: list[str]
    z: np.ndarray
    x: np.ndarray
    mask: np.ndarray
    families: np.ndarray
    columns: np.ndarray | None = None


def encode_frame(frame: WindowFrame, baseline: RobustBaseline, config: FeatureConfig) -> EncodedFrame:
    """Normalise a frame with the service's baseline; signals without a baseline are dropped."""
    keep, signals, fam = baseline.kept(frame.signals, config)
    values = np.asarray(frame.values, dtype=np.float64)
    values = values[:, keep] if values.size else np.zeros((len(frame.times), 0))
    z, mask = baseline.zscores(signals, values, config)
    return EncodedFrame(frame.service, np.asarray(frame.times), signals, z, compress(z), mask, fam, keep)


def channel_inputs(x: np.ndarray, mask: np.ndarray, families: np.ndarray) -> np.ndarray:
    """Channel-shared model input for one service window.

    Args:
        x: (W, S) compressed z (0 where masked).
        mask: (W, S) bool.
        families: (S,) family indices.

    Returns:
        (S, W, CHANNEL_FEATURES) float32: per channel and step
        [value, mask, family one-hot (F), context (F), context mask (F)], where the context is
        the mean value of the service's other signals of each family at that step.
    """
    return batch_channel_inputs([(x, mask, families)])


def batch_channel_inputs(windows: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
    """`channel_inputs` of several services' windows (same W) at once, channels concatenated.

    One vectorised pass instead of one per service: scoring every service of a step is
    dominated by per-call overhead otherwise.

    Args:
        windows: per service (x (W, S_i), mask (W, S_i), families (S_i,)).

    Returns:
        (sum S_i, W, CHANNEL_FEATURES) float32, the services' channels in order.
    """
    sizes = [f.shape[0] for _, _, f in windows]
    x = np.concatenate([x for x, _, _ in windows], axis=1) if windows else np.zeros((0, 0))
    m = np.concatenate([m for _, m, _ in windows], axis=1) if windows else np.zeros((0, 0), dtype=bool)
    families = np.concatenate([f for _, _, f in windows]).astype(np.int64) if windows else np.zeros(0, np.int64)
    owner = np.repeat(np.arange(len(sizes)), sizes)
    return time_major_channel_inputs(x, m, families, owner, len(sizes)).transpose(1, 0, 2)


def time_major_channel_inputs(x: np.ndarray, mask: np.ndarray, families: np.ndarray, owner: np.ndarray,
                              n_owners: int) -> np.ndarray:
    """`channel_inputs` of several services' channels laid side by side, time-major:
    (W, C, CHANNEL_FEATURES) float32 for x and mask (W, C), families and owner (C,) (each
    channel's service, in 0..n_owners-1).

    The streaming forward pass (`lstm_ae.last_step_forward`) reads one step of every channel
    at a time, so this layout needs no copy there.
    """
    w, c = x.shape
    out = np.empty((w, c, CHANNEL_FEATURES), dtype=np.float32)
    if c == 0:
        return out
    m = mask.astype(np.float64)
    xm = x * m
    n_groups = n_owners * N_FAMILIES
    # (step, service, family) bucket of each value; one bincount sums every step at once
    group = (np.arange(w)[:, None] * n_groups + (owner * N_FAMILIES + families)[None, :]).ravel()
    fam_sum = np.bincount(group, weights=xm.ravel(), minlength=w * n_groups).reshape(w, n_owners, N_FAMILIES)
    fam_cnt = np.bincount(group, weights=m.ravel(), minlength=w * n_groups).reshape(w, n_owners, N_FAMILIES)
    # Each channel's own service's family sums, leaving the channel itself out of its own
    # context, so it cannot simply be copied back.
    own_sum = fam_sum[:, owner, :]  # (W, C, F)
    own_cnt = fam_cnt[:, owner, :]
    channels = np.arange(c)
    own_sum[:, channels, families] -= xm
    own_cnt[:, channels, families] -= m
    has = own_cnt > 0
    out[:, :, 0] = x
    out[:, :, 1] = m
    out[:, :, 2 : 2 + N_FAMILIES] = 0.0
    out[:, channels, 2 + families] = 1.0
    with np.errstate(invalid="ignore", divide="ignore"):  # empty families: masked right here
        out[:, :, 2 + N_FAMILIES : 2 + 2 * N_FAMILIES] = np.where(has, own_sum / np.maximum(own_cnt, 1.0), 0.0)
    out[:, :, 2 + 2 * N_FAMILIES :] = has
    return out


def sliding_windows(encoded: EncodedFrame, window: int, min_observed: float = 0.5) -> np.ndarray:
    """All full windows of one encoded frame as channel inputs, for training.

    Channels whose window has fewer than `min_observed` of its steps observed are skipped
    (they teach the model nothing but the mask).

    Returns:
        (N, window, CHANNEL_FEATURES) float32.
    """
    t, s = encoded.x.shape
    if t < window or s == 0:
        return np.zeros((0, window, CHANNEL_FEATURES), dtype=np.float32)
    out = []
    for end in range(window, t + 1):
        sl = slice(end - window, end)
        ch = channel_inputs(encoded.x[sl], encoded.mask[sl], encoded.families)
        observed = encoded.mask[sl].mean(axis=0)
        out.append(ch[observed >= min_observed])
    return np.concatenate(out, axis=0) if out else np.zeros((0, window, CHANNEL_FEATURES), dtype=np.float32)
