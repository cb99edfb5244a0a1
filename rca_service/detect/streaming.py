"""Streaming detection: score each service's newly closed steps and group anomalies into incidents.

Per service the detector keeps its own normal history (steps it judged normal), which gives the
robust baseline for normalisation and the normal scores for its calibrated threshold. Until a
service has `min_history` normal steps it is scored by the n-sigma detector (cold start); after
that by the autoencoder, all services of a step in one forward pass.

Incident rules (hysteresis, so a flapping signal does not open an incident every minute):

- a service *fires* at a step when at least `open_steps` of its last `open_window` steps were
  anomalous (score > 1); optionally (`strong_factor`) also when one step's score is that
  many times its threshold. Off by default: on Nezha's fault-free hours the false incidents
  left were all single-step spikes (a network byte counter) that were back to normal a step
  later, and a real failure lasts; waiting for a second step costs one step of delay;
- a service's *episode* lasts while it keeps being anomalous with gaps shorter than
  `close_quiet_steps`; a firing service whose episode is still running extends its incident,
  unless a *new symptom* fires: a signal of the service that is not anomalous in the running
  episode turns from quiet to anomalous for `open_steps` steps in a row, more than `join_steps`
  after the incident began (a CPU surge twenty minutes into a memory problem is news, not
  more of the same). Then the service starts a new episode, as below. A signal that recovered
  (quiet for `close_quiet_steps` steps) leaves the episode's symptoms, so its relapse is news
  too: on Nezha a second CPU fault on a service came while the memory disturbance of the first
  kept its episode running, and it used to vanish into the old incident;
- a service that fires after being quiet (a new episode) joins the newest open incident if that
  began at most `join_steps` before (one cause, several symptoms), else it opens an incident of
  its own, even while older incidents are still open: those are listed in its `related`. A
  fresh failure must not vanish into an incident that an older, still lasting anomaly of some
  other service keeps open;
- an incident closes ("resolved", `end` set) after `close_quiet_steps` steps in which none of
  the services whose episode belongs to it was anomalous;
- what an open incident gains after it was opened (a service joining, a member's new symptom
  during the onset) is recorded in `Incident.updates`, and `updated()` lists the incidents the
  last `step()` added to: a second fault that lands in a young incident is merged into it, so
  its root causes must be ranked again rather than stay as they were at the opening.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time as _time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from rca_service.detect.calibration import SHORT_HISTORY, CalibrationConfig, Threshold, calibrate
from rca_service.detect.detector_model import DetectorModel
from rca_service.detect.features import (
    FeatureConfig,
    RobustBaseline,
    column_nanmedians,
    encode_frame,
    family_index,
    reject_unknown_keys,
)
from rca_service.detect.history import SignalRows
from rca_service.detect.lstm_ae import torch_threads
from rca_service.detect.incident import Incident, IncidentUpdate, ServiceAnomaly
from rca_service.detect.nsigma import NSigmaConfig, NSigmaDetector
from rca_service.detect.scores import LSTM_AE, ServiceScore
from rca_service.detect.scoring import nanmax_rows, padded_windows
from rca_service.detect.step_scoring import ServiceWindow, score_windows
from rca_service.errors import ConfigError, InputError, NotFoundError
from rca_service.store.api import TelemetryStoreAPI
from rca_service.store.frames import WindowFrame

log = logging.getLogger(__name__)

STATE_FILE = "detector_state.json"
LatentHook = Callable[[str, float, list[float]], None]


@dataclass
class DetectConfig:
    """Streaming detector settings.

    Attributes:
        min_history: normal steps a service needs before the autoencoder scores it; before
            that the n-sigma detector does (cold start).
        history_steps: normal steps kept per service for its baseline and threshold.
        refit_every: steps between updates of a service's baseline location (cheap).
        recalibrate_every: steps between full refits of a service's baseline scale, per-signal
            references and thresholds.
        location_steps: the baseline's location (median) follows the last this many steps,
            anomalous ones included, so a lasting level shift (memory after a restart, a new
            traffic level) becomes the new normal instead of an incident that never closes;
            the scale still comes from the whole normal history.
        open_steps: anomalous steps among the last `open_window` that make a service fire.
        open_window: see `open_steps`.
        strong_factor: a single step with score above this fires at once; None: never (a
            service needs `open_steps` anomalous steps).
        change_factor: within `change_window_steps` steps after a change event (deploy,
            config) of the service, a single step with score above this fires at once; None: never.
        change_window_steps: see `change_factor`.
        close_quiet_steps: quiet steps after which an incident resolves.
        join_steps: a service that fires while an incident is open joins it only if the incident
            began at most this many steps before; later it opens an incident of its own.
        top_signals: driving signals reported per service.
        lookback_steps: on the first call, how many closed steps back to start scoring.
        max_catchup_steps: when more steps than this lie between the last scored step and the
            newest closed one (data time jumped, e.g. a replay of old data then live traffic),
            scoring restarts `lookback_steps` back instead of walking the whole gap.
        calibration: threshold settings (risk level).
        nsigma: cold-start detector settings.
        features: normalisation settings when no model is given (a model brings its own).
        torch_threads: threads torch may use while scoring (0: leave torch's own setting). A
            step is a few hundred small operations: with two threads on a shared 2-core machine
            they spin-wait for each other whenever the other core is busy, and a 50-service
            step took 0.6 s instead of 30 ms.
    """

    min_history: int = 60
    history_steps: int = 1440
    refit_every: int = 10
    recalibrate_every: int = 120
    location_steps: int = 60
    open_steps: int = 2
    open_window: int = 3
    strong_factor: float | None = None
    change_factor: float | None = 2.0
    change_window_steps: int = 6
    close_quiet_steps: int = 2
    join_steps: int = 5
    top_signals: int = 3
    lookback_steps: int = 60
    max_catchup_steps: int = 1440
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    nsigma: NSigmaConfig = field(default_factory=NSigmaConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    torch_threads: int = 1

    def __post_init__(self) -> None:
        if self.torch_threads < 0:
            raise ConfigError("DetectConfig.torch_threads must be >= 0")
        for name in ("min_history", "history_steps", "refit_every", "recalibrate_every", "location_steps", "open_steps", "open_window",
                     "close_quiet_steps", "join_steps", "top_signals"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"DetectConfig.{name} must be >= 1")
        if self.max_catchup_steps < 1:
            raise ConfigError("DetectConfig.max_catchup_steps must be >= 1")
        if self.lookback_steps < 0:
            raise ConfigError("DetectConfig.lookback_steps must be >= 0")
        if self.open_steps > self.open_window:
            raise ConfigError("DetectConfig.open_steps must be <= open_window")
        for name in ("strong_factor", "change_factor"):
            value = getattr(self, name)
            if value is not None and value <= 1:
                raise ConfigError(f"DetectConfig.{name} must be > 1 (or None)")
        if self.change_window_steps < 0:
            raise ConfigError("DetectConfig.change_window_steps must be >= 0")
        if self.history_steps < self.min_history:
            raise ConfigError("DetectConfig.history_steps must be >= min_history")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DetectConfig":
        reject_unknown_keys(cls, data)
        nested = {"calibration": CalibrationConfig, "nsigma": NSigmaConfig, "features": FeatureConfig}
        kw = {k: (nested[k].from_dict(v) if k in nested and isinstance(v, dict) else v) for k, v in data.items()}
        return cls(**kw)


class _ServiceState:
    """What the detector remembers about one service."""

    def __init__(self, config: DetectConfig) -> None:
        self.times: deque[float] = deque(maxlen=config.history_steps)
        self.rows = SignalRows(config.history_steps)  # normal steps
        self.recent = SignalRows(config.location_steps)  # every step
        # per normal step: the autoencoder's error of each signal (for per-signal references)
        self.errors = SignalRows(config.history_steps)
        self.signal_ref: dict[str, float] = {}
        self.ref_cache: tuple[list[str], np.ndarray] | None = None  # signal_ref aligned to a signal list
        self.window: WindowFrame | None = None  # the last window read, reused for the next step
        self.nsigma_raw: deque[float] = deque(maxlen=config.history_steps)
        self.flags: deque[tuple[float, bool]] = deque(maxlen=config.open_window)
        self.anomalous_steps: deque[float] = deque(maxlen=256)  # recent steps judged anomalous
        self.anomalous_in_order = True  # anomalous_steps ascending (false after scoring an earlier step again)
        self.baseline: RobustBaseline | None = None
        self.lstm_threshold: Threshold | None = None
        self._nsigma_threshold: Threshold | None = None
        self._nsigma_due: CalibrationConfig | None = None  # refit the n-sigma threshold at first use
        self.home: str | None = None  # the incident the service's current episode belongs to
        self.episode_signals: set[str] = set()  # signals anomalous in the current episode, not recovered
        self.last_hot: dict[str, float] = {}  # signal -> the last step it was anomalous
        self.lead: set[str] = set()  # a new-symptom episode's new signals (listed first)
        self.onset: float | None = None  # start of a new-symptom episode being opened
        # anomalous signals per step, over the steps `_new_signals` compares (`hot` is its tail)
        self.hot_long: deque[tuple[str, ...]] = deque(maxlen=config.open_window + config.open_steps)
        self._open_window = config.open_window
        self.since_fit = 0
        self.since_calibration = 0
        self.last: ServiceScore | None = None
        self.digest = ""

    @property
    def hot(self) -> list[tuple[str, ...]]:
        """Anomalous signals of each of the last `open_window` steps, oldest first."""
        return list(self.hot_long)[-self._open_window:]

    @property
    def nsigma_threshold(self) -> Threshold | None:
        """The n-sigma threshold, refitted from `nsigma_raw` when first asked for after
        `recalibrate_nsigma`. Only n-sigma scoring appends to `nsigma_raw`, and it asks for the
        threshold first, so this is the threshold an eager refit would have given; services on
        the autoencoder rarely ask, which spares most of the POT fits of a recalibration step."""
        if self._nsigma_due is not None:
            cal, self._nsigma_due = self._nsigma_due, None
            raw = np.array(self.nsigma_raw)
            self._nsigma_threshold = calibrate(raw, cal) if len(raw) >= cal.min_points_short else None
        return self._nsigma_threshold

    @nsigma_threshold.setter
    def nsigma_threshold(self, value: Threshold | None) -> None:
        self._nsigma_threshold, self._nsigma_due = value, None

    def recalibrate_nsigma(self, config: CalibrationConfig) -> None:
        """Refit the n-sigma threshold from the normal scores kept now, when it is next needed."""
        self._nsigma_due = config

    def add_normal(self, t: float, signals: list[str], row: np.ndarray) -> None:
        self.times.append(t)
        self.rows.append(signals, row)

    def add_seen(self, signals: list[str], row: np.ndarray) -> None:
        self.recent.append(signals, row)
        self.since_fit += 1
        self.since_calibration += 1

    def add_anomalous(self, t: float) -> None:
        if self.anomalous_steps and t <= self.anomalous_steps[-1]:
            self.anomalous_in_order = False
        self.anomalous_steps.append(t)

    def anomalous_among(self, times: np.ndarray) -> np.ndarray | None:
        """Which of `times` (ascending) were judged anomalous; None when none were."""
        if not self.anomalous_steps or not len(times) or self.anomalous_steps[-1] < times[0] and self.anomalous_in_order:
            return None  # the common case, answered without touching the list
        if self.anomalous_in_order:  # only the tail can fall among `times`
            recent = []
            for at in reversed(self.anomalous_steps):
                if at < times[0]:
                    break
                recent.append(at)
        else:
            recent = list(self.anomalous_steps)
        hit = np.isin(times, np.asarray(recent, dtype=np.float64))
        return hit if hit.any() else None

    def refs_for(self, signals: list[str]) -> np.ndarray:
        """`signal_ref` aligned to `signals` (0 where none); cached for the list scored each step."""
        if self.ref_cache is None or self.ref_cache[0] is not signals:
            self.ref_cache = (signals, np.array([self.signal_ref.get(s, 0.0) for s in signals]))
        return self.ref_cache[1]


class StreamingDetector:
    """Scores every service's newly closed steps and keeps the incidents.

    Args:
        store: anything implementing `store.api.TelemetryStoreAPI` (frame, services,
            latest_closed_step, step).
        config: settings.
        model: the trained autoencoder bundle (`load_detector`); None means n-sigma only.
        on_latent: optional hook called as (service, step start, latent vector) for each
            service window the autoencoder scored, e.g. to upsert it into the vector store.
    """

    def __init__(self, store: TelemetryStoreAPI, config: DetectConfig | None = None, model: DetectorModel | None = None,
                 on_latent: LatentHook | None = None) -> None:
        self.store = store
        self.config = config or DetectConfig()
        self.model = model
        self.features = model.features if model is not None else self.config.features
        self.nsigma = NSigmaDetector(self.config.nsigma, self.features)
        self.on_latent = on_latent
        self._states: dict[str, _ServiceState] = {}
        self._incidents: dict[str, Incident] = {}
        self._open: list[Incident] = []  # oldest first
        self._quiet: dict[str, int] = {}  # incident id -> quiet steps in a row
        self._digests: dict[str, str] = {}
        self._cursor: float | None = None  # start of the last scored step
        self._pending_errors: dict[str, tuple[list[str], np.ndarray]] = {}  # this step's errors, kept if normal
        self._updated: dict[str, Incident] = {}  # incidents that gained something in the last step() call
        self.last_step_seconds = 0.0

    # -- public ------------------------------------------------------------------------------
    @property
    def step_seconds(self) -> int:
        return int(self.store.step)

    @property
    def cursor(self) -> float | None:
        """Start of the last step scored; None before the first."""
        return self._cursor

    def seek(self, t: float) -> None:
        """Score from step `t` on at the next `step()` (e.g. after `prime` on an earlier range)."""
        self._cursor = self._floor(t) - self.step_seconds

    def prime(self, start: float, end: float) -> None:
        """Take every service's steps in [start, end) as known-normal history.

        Fits baselines and thresholds from them without scoring for incidents, e.g. from a
        fault-free period before replaying a benchmark, or after a restart without state.
        """
        with torch_threads(self.config.torch_threads):
            self._prime(start, end)

    def _prime(self, start: float, end: float) -> None:
        for service in self.store.services():
            frame = self.store.frame(service, start, end)
            st = self._state(service)
            values = np.asarray(frame.values, dtype=np.float64)
            for i, t in enumerate(frame.times):
                if np.isfinite(values[i]).any():
                    st.add_normal(float(t), frame.signals, values[i])
                    st.add_seen(frame.signals, values[i])
            self._refit(st)
            if st.baseline is None:
                continue
            raw, _ = self.nsigma.raw_scores(st.baseline, frame.signals, values)
            st.nsigma_raw.extend(float(r) for r in raw if np.isfinite(r))
            if self.model is not None and len(frame.times):
                enc = encode_frame(frame, st.baseline, self.features)
                errs = self.model.errors(padded_windows(enc, self.model.window))
                for e, _, _ in errs[self.model.window - 1 :]:
                    st.errors.append(enc.signals, e)
            self._recalibrate(st)

    def step(self, now: float | None = None) -> list[Incident]:
        """Score all steps closed since the last call; returns the incidents opened by them.

        Args:
            now: wall-clock time; only steps that ended by `now` are scored (default: every
                step the store has closed).
        """
        with torch_threads(self.config.torch_threads):
            return self._step(now)

    def _step(self, now: float | None) -> list[Incident]:
        self._updated = {}
        latest = self.store.latest_closed_step()
        if latest is None:
            return []
        latest = self._floor(latest)
        if now is not None:
            latest = min(latest, self._floor(now) - self.step_seconds)
        gap_steps = None if self._cursor is None else (latest - self._cursor) / self.step_seconds
        if gap_steps is None or gap_steps > self.config.max_catchup_steps:
            # First call, or a jump in data time (old data replayed, then live traffic): score
            # only the recent steps instead of walking every empty step across the gap.
            self._cursor = latest - (self.config.lookback_steps + 1) * self.step_seconds
        opened: list[Incident] = []
        t = self._cursor + self.step_seconds
        while t <= latest:
            began = _time.perf_counter()
            inc = self._score_step(t)
            self.last_step_seconds = _time.perf_counter() - began
            if inc is not None:
                opened.append(inc)
            self._cursor = t
            t += self.step_seconds
        for inc in opened:  # what an incident gained in the call that opened it is part of its opening
            self._updated.pop(inc.id, None)
        return opened

    def updated(self) -> list[Incident]:
        """The incidents the last `step()` call added to (`Incident.updates`) without opening
        them, oldest first: a service joined, or a member service showed a new symptom."""
        return sorted(self._updated.values(), key=lambda i: i.start)

    def incidents(self, status: str | None = None) -> list[Incident]:
        """All incidents, newest first; `status` filters ("open" | "resolved")."""
        out = [i for i in self._incidents.values() if status is None or i.status == status]
        return sorted(out, key=lambda i: i.start, reverse=True)

    def get(self, incident_id: str) -> Incident:
        """One incident; raises NotFoundError."""
        try:
            return self._incidents[incident_id]
        except KeyError:
            raise NotFoundError(f"no incident {incident_id!r}") from None

    def latest_scores(self) -> dict[str, ServiceScore]:
        """The newest score of each service (for "is X ok?"): score, detector, top signals."""
        return {s: st.last for s, st in sorted(self._states.items()) if st.last is not None}

    def signal_refs(self, service: str) -> dict[str, float]:
        """Per-signal normal error references of a service (for `score_frame`)."""
        st = self._states.get(service)
        return dict(st.signal_ref) if st else {}

    def baseline(self, service: str) -> RobustBaseline | None:
        """The service's current normal baseline (for `score_frame`), None before it has one."""
        st = self._states.get(service)
        return st.baseline if st else None

    def threshold(self, service: str) -> Threshold | None:
        """The threshold the service is scored against now (autoencoder or n-sigma)."""
        st = self._states.get(service)
        if st is None:
            return None
        if self._uses_model(st):
            return st.lstm_threshold or self.model.global_threshold
        return st.nsigma_threshold

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: Path | str) -> Path:
        """Write incidents and per-service history to `directory/detector_state.json`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        services = {}
        for name, st in self._states.items():
            signals, m = st.rows.matrix()
            services[name] = {
                "times": list(st.times),
                "signals": signals,
                "rows": [[None if not np.isfinite(v) else float(v) for v in row] for row in m],
                "errors": st.errors.to_dicts(),
                "recent": st.recent.to_dicts(),
                "nsigma_raw": list(st.nsigma_raw),
                "flags": [list(f) for f in st.flags],
                "episode_signals": sorted(st.episode_signals),
                "last_hot": st.last_hot,
                "last": st.last.to_dict() if st.last else None,
                "baseline": st.baseline.to_dict() if st.baseline else None,
                "signal_ref": st.signal_ref,
                "since_fit": st.since_fit,
                "lstm_threshold": st.lstm_threshold.to_dict() if st.lstm_threshold else None,
                "nsigma_threshold": st.nsigma_threshold.to_dict() if st.nsigma_threshold else None,
            }
        state = {
            "format": 1,
            "cursor": self._cursor,
            "open": [i.id for i in self._open],
            "quiet": self._quiet,
            "digests": self._digests,
            "incidents": [i.to_dict() for i in self._incidents.values()],
            "services": services,
        }
        path = directory / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(path)  # never leave a half-written state behind
        return path

    def load(self, directory: Path | str) -> bool:
        """Restore what `save` wrote; returns False when there is no saved state.

        Raises:
            InputError: the state file exists but cannot be read.
        """
        path = Path(directory) / STATE_FILE
        if not path.is_file():
            return False
        try:
            state = json.loads(path.read_text())
            self._incidents = {d["id"]: Incident.from_dict(d) for d in state["incidents"]}
            self._open = [self._incidents[i] for i in state.get("open", []) if i in self._incidents]
            self._quiet = {k: int(v) for k, v in state.get("quiet", {}).items()}
            self._digests = dict(state.get("digests", {}))
            self._cursor = state.get("cursor")
            self._states = {}
            for name, d in state["services"].items():
                st = self._state(name)
                rows = np.array([[np.nan if v is None else v for v in r] for r in d["rows"]], dtype=np.float64)
                for t, row in zip(d["times"], rows.reshape(len(d["times"]), len(d["signals"]))):
                    st.add_normal(float(t), d["signals"], row)
                st.errors.extend_dicts(d["errors"])
                st.recent.extend_dicts(d.get("recent", []))
                st.signal_ref = dict(d.get("signal_ref", {}))
                st.nsigma_raw.extend(d["nsigma_raw"])
                st.flags.extend((float(t), bool(a)) for t, a in d["flags"])
                st.episode_signals = set(d.get("episode_signals", []))
                st.last_hot = {k: float(v) for k, v in d.get("last_hot", {}).items()}
                if d.get("last"):
                    st.last = _score_from_dict(d["last"])
                # Restore what was in use rather than refit, so scoring resumes exactly.
                st.baseline = RobustBaseline.from_dict(d["baseline"]) if d.get("baseline") else None
                st.since_fit = int(d.get("since_fit", 0))
                st.lstm_threshold = Threshold(**d["lstm_threshold"]) if d.get("lstm_threshold") else None
                st.nsigma_threshold = Threshold(**d["nsigma_threshold"]) if d.get("nsigma_threshold") else None
            for inc in self._open:  # oldest first: a service's episode is in its newest open incident
                for name in inc.services:
                    self._state(name).home = inc.id
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"cannot read detector state {path}: {exc}") from exc
        return True

    # -- internals ---------------------------------------------------------------------------
    def _floor(self, t: float) -> float:
        return float(math.floor(t / self.step_seconds) * self.step_seconds)

    def _state(self, service: str) -> _ServiceState:
        st = self._states.get(service)
        if st is None:
            st = self._states[service] = _ServiceState(self.config)
        return st

    def _uses_model(self, st: _ServiceState) -> bool:
        return self.model is not None and len(st.rows) >= self.config.min_history

    def _refit(self, st: _ServiceState) -> None:
        """Full refit: scale and location from history, then references and thresholds."""
        if len(st.rows) < self.features.min_history:
            return
        signals, m = st.rows.matrix()
        st.baseline = RobustBaseline.fit(signals, m, self.features)
        self._relocate(st)
        st.since_calibration = 0
        self._recalibrate(st)

    def _relocate(self, st: _ServiceState) -> None:
        """Move the baseline's medians to the recent steps' (level shifts become normal)."""
        st.since_fit = 0
        if st.baseline is None or len(st.recent) < self.features.min_history:
            return
        rsig, rm = st.recent.matrix()
        counts = np.isfinite(rm).sum(axis=0)
        med = column_nanmedians(rm)  # NaN for a signal missing in every recent step
        where = st.baseline.index()
        move = [j for j, sig in enumerate(rsig) if sig in where and counts[j] >= self.features.min_history]
        st.baseline.set_medians([rsig[j] for j in move], med[move])

    def _recalibrate(self, st: _ServiceState) -> None:
        cal = self.config.calibration
        st.recalibrate_nsigma(cal)
        if self.model is not None:
            st.lstm_threshold = calibrate(self._lstm_history_raw(st), cal, self.model.global_threshold)

    def _lstm_history_raw(self, st: _ServiceState) -> np.ndarray:
        """Per-signal references from the normal errors, and the raw scores they give."""
        st.ref_cache = None
        if not st.errors:
            st.signal_ref = {}
            return np.zeros(0)
        signals, m = st.errors.matrix()
        counts = np.isfinite(m).sum(axis=0)
        with warnings.catch_warnings():  # signals never observed in normal steps have no quantile
            warnings.simplefilter("ignore", RuntimeWarning)
            q = np.nanquantile(m, 1 - 1 / max(2, self.config.calibration.min_points), axis=0)
        # A short history (min_points_short) already gives a usable reference: with fewer points
        # the quantile is their maximum, which errs high (a quieter score), not low.
        st.signal_ref = {s: float(q[i]) for i, s in enumerate(signals) if counts[i] >= self.config.calibration.min_points_short}
        families = np.array([family_index(s) for s in signals], dtype=np.int64)
        refs = np.array([st.signal_ref.get(s, 0.0) for s in signals])
        return nanmax_rows(self.model.relative_errors(m, families, refs))

    def _window(self, service: str, t: float, width: int, newest: WindowFrame) -> WindowFrame:
        """The service's last `width` steps ending with step t, aligned to the step grid.

        Scoring step after step, the previous window plus the newest step (`newest`, read for
        every service at once by `_newest_steps`) is the new window, so only that step is read
        from the store, unless the store could have answered the whole window differently: its
        windows fill gaps in some columns (e.g. no spans in a step means a request rate of 0
        when the column has values elsewhere in the window), so whenever a column is observed in
        some steps of the window but not in all, or the signal set changed, the window is read
        whole.
        """
        st = self._states[service]
        prev = st.window
        if width == 1:
            st.window = newest
            return newest
        if prev is not None and len(prev.times) == width and prev.times[-1] == t - self.step_seconds:
            if newest.signals == prev.signals:
                values = np.concatenate([prev.values[1:], newest.values])
                seen = np.isfinite(values)
                if not (seen.any(axis=0) & ~seen.all(axis=0)).any():
                    st.window = WindowFrame(service, prev.step, np.append(prev.times[1:], newest.times), prev.signals, values)
                    return st.window
        st.window = self._read(service, t, width)
        return st.window

    def _newest_steps(self, services: list[str], t: float) -> dict[str, WindowFrame]:
        """Every service's step t, on the step grid, in one store read where the store can
        (`TelemetryStore.frames`; other stores are read service by service)."""
        step = self.step_seconds
        read_many = getattr(self.store, "frames", None)
        if read_many is not None:
            frames = read_many(services, t, t + step)
        else:
            frames = {service: self.store.frame(service, t, t + step) for service in services}
        return {service: self._on_grid(frames[service], t, 1) for service in services}

    def _read(self, service: str, t: float, width: int) -> WindowFrame:
        """Read the `width` steps ending with step t from the store, aligned to the step grid."""
        start = t - (width - 1) * self.step_seconds
        return self._on_grid(self.store.frame(service, start, t + self.step_seconds), start, width)

    def _on_grid(self, frame: WindowFrame, start: float, width: int) -> WindowFrame:
        """`frame` as exactly the `width` steps from `start` (NaN rows for steps it lacks)."""
        step = self.step_seconds
        times = start + step * np.arange(width)
        if len(frame.times) == width and frame.times[0] == start:  # the common case: nothing missing
            return WindowFrame(frame.service, step, times.astype(np.int64), list(frame.signals),
                               np.asarray(frame.values, dtype=np.float64))
        values = np.full((width, len(frame.signals)), np.nan)
        if len(frame.times):
            pos = np.round((np.asarray(frame.times, dtype=np.float64) - start) / step).astype(int)
            ok = (pos >= 0) & (pos < width)
            values[pos[ok]] = np.asarray(frame.values, dtype=np.float64)[ok]
        return WindowFrame(frame.service, step, times.astype(np.int64), list(frame.signals), values)

    def _score_step(self, t: float) -> Incident | None:
        width = self.model.window if self.model is not None else 1
        scores: dict[str, ServiceScore] = {}
        rows: dict[str, WindowFrame] = {}
        batch: list[ServiceWindow] = []
        services = self.store.services()
        newest = self._newest_steps(services, t)
        for service in services:
            st = self._state(service)
            frame = self._window(service, t, width, newest[service])
            last = frame.values[-1] if frame.values.size else np.zeros(0)
            if not np.isfinite(last).any():
                continue  # no data for this service in this step: nothing to say
            rows[service] = frame
            if not self._observe(st, frame, last, t):
                continue
            if self._uses_model(st):
                columns, signals, families = st.baseline.kept(frame.signals, self.features)
                if np.isfinite(last[columns]).any():
                    batch.append(self._service_window(st, service, frame, columns, signals, families))
                    continue
            score = self.nsigma.score(service, t, st.baseline, frame.signals, last, st.nsigma_threshold)
            if score is not None:
                scores[service] = score
        for window, scored in zip(batch, score_windows(self.model, t, batch, self.config.top_signals)):
            score = scored.score
            self._pending_errors[score.service] = (window.signals, scored.errors)
            if self.on_latent is not None:
                try:
                    self.on_latent(score.service, t, score.latent)
                except Exception:  # the vector store is best effort; detection must go on
                    log.exception("on_latent hook failed for %s", score.service)
            scores[score.service] = score
        return self._update(t, scores, rows)

    def _observe(self, st: _ServiceState, frame: WindowFrame, last: np.ndarray, t: float) -> bool:
        """Record step t (`last`, the newest row of `frame`) as seen and refit the baseline when
        due; False while the service is still warming up (the step then counts as normal)."""
        st.add_seen(frame.signals, last)
        if st.baseline is None or st.since_calibration >= self.config.recalibrate_every:
            self._refit(st)
        elif st.since_fit >= self.config.refit_every:
            self._relocate(st)
        if st.baseline is None or not st.baseline.usable(self.features):
            st.add_normal(t, frame.signals, last)  # warming up: not scored yet
            return False
        return True

    def _service_window(self, st: _ServiceState, service: str, frame: WindowFrame, columns: np.ndarray,
                        signals: list[str], families: np.ndarray) -> ServiceWindow:
        """The service's window for the batched autoencoder pass (`step_scoring`)."""
        med, scl, _ = st.baseline.aligned(signals, self.features)
        # Steps already judged anomalous are masked in later windows: otherwise one burst echoes
        # through the next `window` steps' reconstructions.
        past = st.anomalous_among(frame.times[:-1])
        return ServiceWindow(service, frame.values, columns, signals, families, med, scl, st.refs_for(signals),
                             st.lstm_threshold or self.model.global_threshold, past)

    def _break_after_change(self, service: str, score: ServiceScore, t: float) -> bool:
        """A clear break right after a deploy or config change of the service fires at once:
        the change is the likeliest cause, and a bad rollout should not wait a second step for
        its rollback (nor slip through when the new version's level soon becomes the baseline)."""
        cfg = self.config
        if cfg.change_factor is None or score.score < cfg.change_factor:
            return False
        since = t - cfg.change_window_steps * self.step_seconds
        return bool(self.store.changes(service, since, t + self.step_seconds))

    def _update(self, t: float, scores: dict[str, ServiceScore], rows: dict[str, WindowFrame]) -> Incident | None:
        fired: dict[str, ServiceScore] = {}
        for service, score in scores.items():
            st = self._states[service]
            st.last = score
            st.flags.append((t, score.anomalous))
            self._forget_recovered(st, t)
            st.hot_long.append(score.anomalous_signals)
            st.last_hot.update(dict.fromkeys(score.anomalous_signals, float(t)))
            if score.anomalous:
                st.add_anomalous(float(t))
            if not score.anomalous:
                frame = rows[service]
                st.add_normal(t, frame.signals, frame.values[-1])
                if score.detector == LSTM_AE:
                    st.errors.append(*self._pending_errors.pop(service, ((), np.zeros(0))))
                else:
                    st.nsigma_raw.append(score.raw)
                continue
            strong = self.config.strong_factor is not None and score.score >= self.config.strong_factor
            strong = strong or self._break_after_change(service, score, t)
            if strong or sum(a for _, a in st.flags) >= self._steps_to_fire(score):
                fired[service] = score
                self._digests[service] = _window_digest(rows[service])
        # Firing services whose episode is running extend its incident; a new episode joins the
        # newest open incident if it began within `join_steps`, else it opens a new one (a
        # second problem ten minutes later is a new incident, not a footnote to the first).
        fresh: dict[str, ServiceScore] = {}
        for service, score in fired.items():
            st = self._states[service]
            home = self._episode(service, t)
            if home is None:
                st.lead = set()  # a fresh episode after quiet: all its signals are news
            elif self._new_symptom(st, home, t):
                home = None
                # the new episode began when its new signals did, not when the old one did
                new = self._new_signals(st)
                st.onset = min((ft for (ft, _), hot in zip(st.flags, st.hot) if new & set(hot)), default=t)
                st.lead = new  # the new incident is about the new signals: they lead its evidence
            if home is None:  # a new episode: its symptoms so far are the signals firing now
                st.episode_signals = self._firing_signals(st)
            if home is None and self._open and self._open[-1].start >= t - self.config.join_steps * self.step_seconds:
                home = self._open[-1]
            if home is None:
                fresh[service] = score
            else:
                self._join(home, service, score, t)
                self._states[service].home = home.id
                self._states[service].onset = None
        for inc in list(self._open):
            active = [s for s in inc.services if s in scores and scores[s].anomalous and self._episode(s, t) is inc]
            for service in active:
                if service not in fired:
                    self._join(inc, service, scores[service], t)
                if inc.start >= t - self.config.join_steps * self.step_seconds:
                    # symptoms join the episode during its onset; later ones are news to judge
                    # (`_new_signals`), not to absorb
                    st = self._states[service]
                    new = self._firing_signals(st) - st.episode_signals
                    st.episode_signals |= new
                    if new:  # (a service that joined this step starts with every firing signal)
                        self._record(inc, IncidentUpdate(t, service, "new_symptom", sorted(new)))
            self._quiet[inc.id] = 0 if active else self._quiet.get(inc.id, 0) + 1
            if self._quiet[inc.id] >= self.config.close_quiet_steps:
                inc.status = "resolved"
                inc.end = max(a.last_seen for a in inc.services.values()) + self.step_seconds
                self._open.remove(inc)
                self._quiet.pop(inc.id, None)
        if not fresh:
            return None
        inc = self._new_incident(t, fresh)
        inc.related = [i.id for i in self._open]
        for service in fresh:
            self._states[service].home = inc.id
            self._states[service].onset = None
        self._open.append(inc)
        self._quiet[inc.id] = 0
        return inc

    def _steps_to_fire(self, score: ServiceScore) -> int:
        """`open_steps`, or all `open_window` steps when the threshold came from a short history
        (`CalibrationConfig.min_points_short`): it is less certain, so the evidence must last."""
        return self.config.open_window if score.threshold_method == SHORT_HISTORY else self.config.open_steps

    def _firing_signals(self, st: _ServiceState) -> set[str]:
        """Signals anomalous in at least `open_steps` of the last `open_window` steps (a one-step
        blip of a signal is not a symptom, as it would not be for a service)."""
        counts: dict[str, int] = {}
        for hot in st.hot:
            for s in hot:
                counts[s] = counts.get(s, 0) + 1
        return {s for s, c in counts.items() if c >= self.config.open_steps}

    def _forget_recovered(self, st: _ServiceState, t: float) -> None:
        """Drop from the episode's symptoms the signals quiet for `close_quiet_steps` steps before t
        (the same quiet that ends an episode ends a symptom), so their relapse is a new symptom."""
        horizon = t - self.config.close_quiet_steps * self.step_seconds
        st.episode_signals = {s for s in st.episode_signals if st.last_hot.get(s, t) >= horizon}
        if len(st.last_hot) > 4 * len(st.episode_signals) + 64:  # keep the map small on long runs
            st.last_hot = {s: v for s, v in st.last_hot.items() if v >= horizon}

    def _new_signals(self, st: _ServiceState) -> set[str]:
        """Signals not among the episode's symptoms that turned from quiet (in the `open_window`
        steps before) to anomalous in each of the last `open_steps` steps.

        Stricter than firing: during a lasting anomaly, signals tied to it (the CPU that serves a
        traffic surge) cross their threshold now and then, and two such crossings in three steps
        are chance, not a new problem; a clean onset after quiet is not.
        """
        n, w = self.config.open_steps, self.config.open_window
        if len(st.hot_long) < n + w:
            return set()
        steps = list(st.hot_long)
        onset = set(steps[-n]).intersection(*steps[-n:])
        before = set().union(*steps[-n - w : -n])
        return onset - before - st.episode_signals

    def _new_symptom(self, st: _ServiceState, home: Incident, t: float) -> bool:
        """A signal new to the service's running episode fires, past the incident's onset."""
        if home.start >= t - self.config.join_steps * self.step_seconds:
            return False  # still the onset: symptoms arriving one after another are one problem
        return bool(self._new_signals(st))

    def _episode(self, service: str, t: float) -> Incident | None:
        """The open incident the service's running episode belongs to, None if it has none.

        An episode runs while the service was anomalous within the last `close_quiet_steps`
        steps; after that much quiet a new anomaly is a new episode.
        """
        inc = self._incidents.get(self._states[service].home or "")
        if inc is None or inc.status != "open" or service not in inc.services:
            return None
        if inc.services[service].last_seen < t - self.config.close_quiet_steps * self.step_seconds:
            return None
        return inc

    def _first_anomalous(self, service: str, t: float) -> float:
        st = self._states[service]
        if st.onset is not None:
            return st.onset
        return min((ft for ft, a in st.flags if a), default=t)

    def _join(self, inc: Incident, service: str, score: ServiceScore, t: float) -> None:
        a = inc.services.get(service)
        lead = self._states[service].lead
        if lead:  # a new-symptom episode: its new signals lead the evidence, kept past their peak
            now = {sig.signal for sig in score.signals}
            kept = [sig for sig in (a.signals if a is not None else []) if sig.signal in lead and sig.signal not in now]
            score = replace(score, signals=sorted(kept + list(score.signals), key=lambda sig: sig.signal not in lead))
        if a is None:
            inc.services[service] = ServiceAnomaly(service, self._first_anomalous(service, t), t, score.score,
                                                   score.detector, list(score.signals))
            inc.start = min(inc.start, inc.services[service].first_seen)
            inc.fingerprint = self._fingerprint(inc)
            if inc.id:  # not while the incident is being opened
                self._record(inc, IncidentUpdate(t, service, "joined", sorted(self._firing_signals(self._states[service]))))
            return
        a.last_seen = t
        if score.score > a.peak_score:
            a.peak_score, a.detector, a.signals = score.score, score.detector, list(score.signals)

    def _record(self, inc: Incident, update: IncidentUpdate) -> None:
        inc.updates.append(update)
        self._updated[inc.id] = inc

    def _new_incident(self, t: float, fired: dict[str, ServiceScore]) -> Incident:
        start = min(self._first_anomalous(s, t) for s in fired)
        inc = Incident(id="", start=start, end=None)
        for service, score in sorted(fired.items()):
            self._join(inc, service, score, t)
        stamp = _time.strftime("%Y%m%d-%H%M%S", _time.gmtime(inc.start))
        inc.id = f"inc-{stamp}-{inc.fingerprint[:6]}"
        top = max(inc.services.values(), key=lambda a: a.peak_score)
        sig = f" ({top.signals[0].signal})" if top.signals else ""
        inc.title = f"{top.service}{sig} anomalous" + (f" with {len(inc.services) - 1} more" if len(inc.services) > 1 else "")
        self._incidents[inc.id] = inc
        return inc

    def _fingerprint(self, inc: Incident) -> str:
        h = hashlib.sha256()
        for service in sorted(inc.services):
            h.update(service.encode())
            h.update(self._digests.get(service, "").encode())
        return h.hexdigest()


def _window_digest(frame: WindowFrame) -> str:
    """sha256 of the window a decision was made on (times, signal names, values)."""
    h = hashlib.sha256()
    h.update(frame.service.encode())
    h.update(np.asarray(frame.times, dtype=np.int64).tobytes())
    h.update("\x00".join(frame.signals).encode())
    h.update(np.ascontiguousarray(frame.values, dtype=np.float64).tobytes())
    return h.hexdigest()


def _score_from_dict(d: dict) -> ServiceScore:
    from rca_service.detect.incident import SignalScore

    return ServiceScore(d["service"], d["time"], d["score"], d["raw"], d["threshold"], d["threshold_method"],
                        d["detector"], [SignalScore(**s) for s in d.get("signals", [])],
                        anomalous_signals=tuple(d.get("anomalous_signals", ())))
