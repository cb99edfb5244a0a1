"""Detector-independent ceiling on 3-minute fault detection on the Nezha metrics.

Question: for each of the 56 injected faults, could ANY detector working on the metrics that
`detect.py` feeds (1-minute rows, through the real TelemetryStore) tell the minutes right after the
injection apart from normal variation, without false alarms on the fault-free hours?

Data: exactly the benchmark's (`detect.load_days`, `detect._store`): per day the fault period,
the fault list, and the fault-free period split into a prime range (first 4 h) and an eval range
(the rest, about 14.9 h over both days). Services and signals come from the store; nothing is
hard-coded.

Method, per (day, service, signal):

A. Prime baseline. Median and robust scale from the prime range, with the detector's own
   `RobustBaseline` (scale = max of MAD-sigma, IQR-sigma, 0.25 std, 5 % of |median| -- of the
   shortfall from 100 % for a success share -- and an absolute floor), give
   robust z-scores. Reference = the signal's own max |z| over the eval range (never the prime
   range); for the two-step variant the max over t of min(|z(t)|, |z(t-1)|) (the detector's
   incidents need repeated anomalous steps). A fault is *visible* on a signal when, in its
   window, |z| (resp. the two-step min) exceeds that reference: a per-signal threshold at the
   reference would then raise no false alarm on the eval hours and still catch the fault.
   Note the ratio z_fault / reference does not depend on the scale, only on the median.
   - "strict": reference = max(eval max, max |z| in quiet minutes of the fault day itself),
     which discounts level shifts between the fault-free recording and the fault day.
   - "pooled": reference = max over both days' eval ranges (one threshold per signal).
   - "1 FP": reference lowered until the signal's eval exceedances form one incident (runs
     merged across one quiet step, as an incident closes after 2 quiet steps): what spending the
     whole false-alarm budget (1 per 10 h ~ 1 in 14.9 h) on that one signal buys. Per-fault
     optimistic: different faults may spend the single allowed false alarm differently.
   - "fresh": only signals that were within their reference in the 3 steps before the window
     count (a new excursion). Without it, A is inflated: the fault days differ in level from
     the fault-free recording (memory staircases after pod restarts, etc.), so many signals sit
     far from the prime median all day, and a signal flat in the eval hours (reference 0) makes
     any wiggle "visible".
B. Day-local baseline. Median / scale (same formula) over the 20 steps [s0-23 min, s0-3 min)
   before the injection step s0 = floor(inject/60)*60, on the fault day itself (truncated to
   what exists: the fault days' data start ~2 min before the first injection, so the first fault
   of each day has no local baseline). Its fault-free reference is the same rolling construction
   slid over every anchor of the eval range (baseline and window inside it); also, as asked, the
   max over "quiet" anchors of the fault day (window at least 5 min after every earlier
   injection's +5 min, ending before the next fault's window): few exist, faults are ~8.5 min
   apart. "clean": the baseline skips earlier faults' minutes (a detector freezing its
   baseline during incidents). Weakness: faults come in runs on one service, so the 20 steps
   often hold the previous fault's effect.
C. Prime scale, but each range centred on its own median (fault period / eval range): removes a
   constant level shift; with "strict" and "fresh" variants as for A.

Every reference is floored at `--z-floor` (default 3) |z|, so a signal that was constant in the
eval hours does not turn a tiny wiggle into a detection (FLOORS shows the counts at other
floors). Each variant raises no false alarm on the eval hours, so a detector OR-ing variants
raises none either: the headline is the union A_fresh | C_fresh | B, with counts by margin
(z / reference > 1, 1.5, 2, 3), since a maximum over ~15 h understates the tail of longer runs.

Fault window (matches detect.py's rule: an incident starting no earlier than one step before
the injection step and opened by the end of a step at most `--within` s after injection): the
steps whose start t satisfies floor(inject/60)*60 - 60 <= t <= inject + within - 60 (4 steps for
180 s); two-step pairs (t-1, t) must both lie in it.

Caveats: this bounds detectors that threshold single signals. A multivariate detector could in
principle exploit joint moves no single signal shows; the per-fault margins show how far below
the references the invisible faults stay. References are in-sample maxima (optimistic), and
day 2 has only ~3 h of eval data. Runtime about 1.5 min.

    .venv/bin/python benchmarks/detect_ceiling.py [--path /tmp/ds] [--within 180] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from detect import STEP, DayData, _store, load_days

from rca_service.detect.features import FeatureConfig, RobustBaseline

BASE_STEPS = 20  # day-local baseline length (steps)
BASE_GAP = 3  # steps excluded right before the injection step
BASE_MIN = 8  # fewest baseline values for a day-local baseline (the fault days' data start ~2 min
# before the first injection, so the first faults of a day have a truncated or no local history)
QUIET_AFTER = 600.0  # a quiet window starts at least this long after any earlier injection
CLEAN_AFTER = 240.0  # B_clean: steps up to this long after an earlier injection stay out of the baseline
CLEAN_LOOKBACK = 5400.0  # B_clean: how far back the clean baseline may reach
PRE_STEPS = 3  # "fresh" variants: steps before the window in which the signal must be within its reference
MOVED_Z = 3.0  # |z| below this in the whole window: the signal did not move


# ---------------------------------------------------------------------------------------------
# numerics


class _quiet:
    """Silence numpy's all-NaN slice warnings (NaN is the intended answer there)."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


def two_step(a: np.ndarray) -> np.ndarray:
    """min(|z(t)|, |z(t-1)|) along axis 0 (NaN at t=0 or where either is missing)."""
    out = np.full_like(a, np.nan)
    out[1:] = np.fmin(a[1:], a[:-1])
    out[1:][np.isnan(a[1:]) | np.isnan(a[:-1])] = np.nan
    return out


def nanmax0(a: np.ndarray) -> np.ndarray:
    with _quiet():
        return np.nanmax(a, axis=0) if len(a) else np.full(a.shape[1:], np.nan)


def one_incident_threshold(series: np.ndarray, times: np.ndarray, merge_gap: float) -> float:
    """Lowest threshold thr (a value of the series) such that the steps with series > thr form at
    most one incident (runs merged when the gap between exceeding steps is <= merge_gap s)."""
    ok = np.isfinite(series)
    if not ok.any():
        return float("nan")
    v, t = series[ok], times[ok]
    order = np.argsort(-v, kind="stable")
    best = float(v[order[0]])
    chosen: list[float] = []
    for k in range(1, min(len(order), 400)):
        chosen.append(float(t[order[k - 1]]))
        thr = float(v[order[k]])
        if thr == float(v[order[k - 1]]):
            continue  # ties enter together
        ts = np.sort(np.asarray(chosen))
        runs = 1 + int(np.sum(np.diff(ts) > merge_gap))
        if runs > 1:
            break
        best = thr
    return best


# ---------------------------------------------------------------------------------------------
# per day


class DayArrays:
    """A day's aligned (T, K) matrices over all (service, signal) columns with data."""

    def __init__(self, d: DayData, within: float, cfg: FeatureConfig):
        self.day = d.day
        prime = [p for p in d.normal_metrics if d.prime_range[0] <= p.time < d.prime_range[1]]
        fstore = _store(prime + d.fault_metrics)  # as detect.run_fault_period builds it
        nstore = _store(d.normal_metrics)  # as detect.run_fault_free builds it
        services = sorted(set(fstore.services()) | set(nstore.services()))
        f0 = float(np.floor(d.fault_range[0] / STEP) * STEP)
        self.cols: list[tuple[str, str]] = []
        pr, ev, fa = [], [], []
        for svc in services:
            fp, fe, ff = nstore.frame(svc, *d.prime_range), nstore.frame(svc, *d.eval_range), fstore.frame(svc, f0, d.fault_range[1])
            signals = [s for s in dict.fromkeys(fp.signals + fe.signals + ff.signals)
                       if np.isfinite(fp.column(s)).sum() >= cfg.min_history and np.isfinite(ff.column(s)).any()
                       and np.isfinite(fe.column(s)).sum() >= cfg.min_history]
            for s in signals:
                self.cols.append((svc, s))
                pr.append(fp.column(s))
                ev.append(fe.column(s))
                fa.append(ff.column(s))
            self.prime_times, self.eval_times, self.fault_times = fp.times, fe.times, ff.times
        self.prime = np.stack(pr, axis=1)
        self.eval = np.stack(ev, axis=1)
        self.fault = np.stack(fa, axis=1)
        self.faults = d.faults
        self.within = within
        self.eval_hours = len(self.eval_times) * STEP / 3600
        self.services = services
        # A: prime baseline with the detector's own RobustBaseline
        self.names = [f"{a}|{b}" for a, b in self.cols]
        base = RobustBaseline.fit(self.names, self.prime, cfg)
        self.med, self.scale = base.median, base.scale
        self.zA_eval = np.abs((self.eval - self.med) / self.scale)
        self.zA_fault = np.abs((self.fault - self.med) / self.scale)
        self.nwin = int(within // STEP) + 1  # steps in a window, injection step - 1 included
        self.cfg = cfg
        # C: prime scale, but each range centred on its own median (fault day: the whole fault
        # period; eval: the eval range), which removes a constant level shift between the
        # fault-free recording and the fault day
        with _quiet():
            med_f, med_e = np.nanmedian(self.fault, axis=0), np.nanmedian(self.eval, axis=0)
        self.zC_fault = np.abs((self.fault - med_f) / self.scale)
        self.zC_eval = np.abs((self.eval - med_e) / self.scale)

    # windows ------------------------------------------------------------------------------

    def window_index(self, inject: float) -> np.ndarray:
        """Positions in fault_times of the fault window steps."""
        lo = np.floor(inject / STEP) * STEP - STEP
        hi = inject + self.within - STEP
        return np.flatnonzero((self.fault_times >= lo) & (self.fault_times <= hi))

    def quiet_anchors(self) -> list[float]:
        """Step-aligned pseudo-injection steps s0 on the fault day whose window
        [s0-60, s0-60+nwin*60) starts >= QUIET_AFTER after every earlier injection and ends
        before the next fault's window (which starts one step before its injection step)."""
        injs = [x[0] for x in self.faults]
        out = []
        for s0 in self.fault_times:
            ws = s0 - STEP
            we = ws + self.nwin * STEP
            if s0 - (BASE_STEPS + BASE_GAP) * STEP < self.fault_times[0] or we > self.fault_times[-1] + STEP:
                continue  # no day-local baseline, or the window runs past the data
            if all(i <= ws - QUIET_AFTER or np.floor(i / STEP) * STEP - STEP >= we for i in injs):
                out.append(float(s0))
        return out

    # day-local baseline (B) ---------------------------------------------------------------

    def local_z(self, values: np.ndarray, times: np.ndarray, anchors: list[float], clean: bool = False) -> np.ndarray:
        """(A, nwin, K) |z| of each anchor's window against its own 20-step local baseline;
        NaN where the baseline has fewer than BASE_MIN values (the baseline is truncated where
        the data begin less than BASE_STEPS + BASE_GAP steps before the anchor).

        clean: the baseline is the last BASE_STEPS steps before s0 - BASE_GAP steps, within
        CLEAN_LOOKBACK, that lie outside every earlier fault's [injection step - 1, injection +
        CLEAN_AFTER] (what a detector that keeps its baseline frozen while an incident is open
        would use); with no fault before, the same as the plain baseline."""
        pos = {int(t): i for i, t in enumerate(times)}
        out = np.full((len(anchors), self.nwin, values.shape[1]), np.nan)
        injs = [x[0] for x in self.faults]
        for a, s0 in enumerate(anchors):
            i0 = pos.get(int(s0))
            if i0 is None or i0 - BASE_GAP < BASE_MIN:
                continue
            if clean:
                rows = [i for i in range(i0 - BASE_GAP) if times[i] >= s0 - CLEAN_LOOKBACK and not any(
                    np.floor(j / STEP) * STEP - STEP <= times[i] <= j + CLEAN_AFTER for j in injs if j < s0)]
                base = values[rows[-BASE_STEPS:]]
            else:
                base = values[max(0, i0 - BASE_STEPS - BASE_GAP) : i0 - BASE_GAP]
            fitted = RobustBaseline.fit(self.names, base, self.cfg)
            med, scale = fitted.median, fitted.scale
            enough = np.isfinite(base).sum(axis=0) >= BASE_MIN
            w = values[i0 - 1 : i0 - 1 + self.nwin]
            z = np.abs((w - med) / scale)
            z[:, ~enough] = np.nan
            out[a, : len(z)] = z
        return out

    def local_eval_reference(self) -> tuple[np.ndarray, np.ndarray, int]:
        """B's fault-free reference: max over every eval anchor (baseline and window inside the
        eval range) of the window's max |z| and max two-step min."""
        t = self.eval_times
        anchors = [float(x) for i, x in enumerate(t) if i - BASE_STEPS - BASE_GAP >= 0 and i - 1 + self.nwin <= len(t)]
        z = self.local_z(self.eval, t, anchors)
        return nanmax0(nanmax0(np.moveaxis(z, 0, 1))), _two_max(z), len(anchors)


def _two_max(z: np.ndarray) -> np.ndarray:
    """(A, W, K) -> (K,) max over anchors and window pairs of the two-step min."""
    if len(z) == 0:
        return np.full(z.shape[2], np.nan)
    m = np.fmin(z[:, 1:], z[:, :-1])
    m[np.isnan(z[:, 1:]) | np.isnan(z[:, :-1])] = np.nan
    with _quiet():
        return np.nanmax(m.reshape(-1, z.shape[2]), axis=0)


def _ratio(m: np.ndarray, ref: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        r = np.where(ref > 0, m / ref, np.where(m > 0, np.inf, 0.0))
    r[~np.isfinite(m) | ~np.isfinite(ref)] = np.nan
    return r


def _best(cols, r: np.ndarray, m: np.ndarray, ref: np.ndarray, only: str | None = None) -> dict | None:
    idx = [i for i, (svc, _) in enumerate(cols) if only is None or svc == only]
    idx = [i for i in idx if np.isfinite(r[i]) or np.isinf(r[i])]
    if not idx:
        return None
    i = max(idx, key=lambda j: r[j] if not np.isnan(r[j]) else -1)
    return {"service": cols[i][0], "signal": cols[i][1], "ratio": _num(r[i]), "z": _num(m[i]), "ref": _num(ref[i])}


def _num(x: float) -> float | str | None:
    if x is None or np.isnan(x):
        return None
    if np.isinf(x):
        return "inf"
    return round(float(x), 3)


def _visible_list(cols, r, m, ref, top: int = 12) -> list[dict]:
    idx = [i for i in range(len(cols)) if r[i] > 1]  # NaN compares False; inf counts
    idx.sort(key=lambda i: -(r[i] if np.isfinite(r[i]) else 1e18))
    return [{"service": cols[i][0], "signal": cols[i][1], "ratio": _num(r[i]), "z": _num(m[i]), "ref": _num(ref[i])} for i in idx[:top]]


# ---------------------------------------------------------------------------------------------


def _pool(arrays, attr: str) -> dict[tuple[str, str], float]:
    """(service, signal) -> max of the per-day references `attr` over the days."""
    out: dict[tuple[str, str], float] = {}
    for da in arrays:
        for k, c in enumerate(da.cols):
            v = getattr(da, attr)[k]
            if np.isfinite(v):
                out[c] = max(out.get(c, -np.inf), float(v))
    return out


VARIANT_HELP = {
    "A1": "prime baseline; one step above the signal's own eval max (per day)",
    "A2": "prime baseline; two consecutive steps above own eval max of the two-step min",
    "A1_strict": "A1 with reference also >= max |z| in the fault day's quiet minutes (level shift)",
    "A2_strict": "A2, same",
    "A1_pooled": "A1 with reference = max over both days' eval ranges",
    "A2_pooled": "A2, same",
    "A1_1fp": "A1 with reference lowered to allow one eval incident on that signal",
    "A2_1fp": "A2, same",
    "B1": "day-local 20-step baseline; one step above the rolling eval max (per day)",
    "B2": "day-local baseline; two steps above rolling eval max of the two-step min",
    "B1_pooled": "B1 with reference = max over both days' rolling eval maxima",
    "B2_pooled": "B2, same",
    "B1_quiet": "day-local baseline; above the max in the fault day's quiet windows",
    "B2_quiet": "B1_quiet, two-step",
    "B1_clean": "B1 with the baseline skipping earlier faults' minutes (inj step-1 .. inj+4 min, lookback 90 min)",
    "B2_clean": "B2, same",
    "C1": "prime scale, each range centred on its own median (removes a constant level shift); > eval max",
    "C2": "C1, two-step",
    "C1_strict": "C1 with reference also >= the fault day's quiet minutes",
    "C2_strict": "C2, same",
    "A1_fresh": "A1, counting only signals within their reference in the 3 steps before the window (a new excursion)",
    "A2_fresh": "A2, same",
    "C1_fresh": "C1, same freshness condition",
    "C2_fresh": "C2, same",
}
FLOORS = (0.0, 1.0, 2.0, 3.0, 5.0)
MARGINS = (1.0, 1.5, 2.0, 3.0)


def analyse(days: list[DayData], within: float, z_floor: float) -> dict:
    """Per fault and variant: visible or not with references floored at `z_floor`; plus the
    visible counts at each of FLOORS (sensitivity)."""
    cfg = FeatureConfig()
    merge_gap = 2 * STEP  # exceeding steps one quiet step apart stay one incident
    arrays = [DayArrays(d, within, cfg) for d in days]
    for da in arrays:
        da.ref1 = nanmax0(da.zA_eval)
        ts = two_step(da.zA_eval)
        da.ref2 = nanmax0(ts)
        da.ref1_fp = np.array([one_incident_threshold(da.zA_eval[:, k], da.eval_times, merge_gap) for k in range(len(da.cols))])
        da.ref2_fp = np.array([one_incident_threshold(ts[:, k], da.eval_times, merge_gap) for k in range(len(da.cols))])
        da.refB1, da.refB2, da.n_eval_anchors = da.local_eval_reference()
        da.refC1, da.refC2 = nanmax0(da.zC_eval), nanmax0(two_step(da.zC_eval))
    pooled = {a: _pool(arrays, a) for a in ("ref1", "ref2", "refB1", "refB2")}
    faults_out, days_out = [], []
    sens = {n: {f: 0 for f in FLOORS} for n in VARIANT_HELP}
    for da in arrays:
        pl = {a: np.array([pooled[a].get(c, np.nan) for c in da.cols]) for a in pooled}
        quiet = da.quiet_anchors()
        qpos = sorted({int(q) - STEP + j * STEP for q in quiet for j in range(da.nwin)})
        qmask = np.isin(da.fault_times, qpos)
        quiet1 = nanmax0(da.zA_fault[qmask])
        pair_ok = qmask & np.isin(da.fault_times - STEP, qpos)  # two-step pairs of quiet minutes
        quiet2 = nanmax0(two_step(da.zA_fault)[pair_ok])
        strict1, strict2 = np.fmax(da.ref1, quiet1), np.fmax(da.ref2, quiet2)
        strictC1 = np.fmax(da.refC1, nanmax0(da.zC_fault[qmask]))
        strictC2 = np.fmax(da.refC2, nanmax0(two_step(da.zC_fault)[pair_ok]))
        zB_q = da.local_z(da.fault, da.fault_times, quiet)
        Bq1 = nanmax0(zB_q.reshape(-1, len(da.cols))) if len(quiet) else np.full(len(da.cols), np.nan)
        Bq2 = _two_max(zB_q)
        days_out.append({"day": da.day, "services": da.services, "signals_with_data": len(da.cols),
                         "eval_hours": round(da.eval_hours, 2), "prime_hours": round(len(da.prime_times) * STEP / 3600, 2),
                         "fault_data_from_utc": time.strftime("%H:%M", time.gmtime(da.fault_times[0])),
                         "first_inject_utc": time.strftime("%H:%M:%S", time.gmtime(min(x[0] for x in da.faults))),
                         "quiet_anchors": len(quiet), "quiet_minutes": len(qpos), "eval_anchors_local": da.n_eval_anchors})
        for inject, service, ftype in da.faults:
            wi = da.window_index(inject)
            m1 = nanmax0(da.zA_fault[wi])
            m2 = nanmax0(two_step(da.zA_fault[wi]))  # pairs inside the window only
            zB = da.local_z(da.fault, da.fault_times, [float(np.floor(inject / STEP) * STEP)])
            mB1, mB2 = nanmax0(zB[0]), _two_max(zB)
            zBc = da.local_z(da.fault, da.fault_times, [float(np.floor(inject / STEP) * STEP)], clean=True)
            mBc1, mBc2 = nanmax0(zBc[0]), _two_max(zBc)
            mC1, mC2 = nanmax0(da.zC_fault[wi]), nanmax0(two_step(da.zC_fault[wi]))
            res = {"day": da.day, "inject_utc": time.strftime("%H:%M:%S", time.gmtime(inject)), "service": service,
                   "fault_type": ftype, "window_steps": len(wi), "local_baseline": bool(np.isfinite(mB1).any())}
            culprit = [i for i, (svc, _) in enumerate(da.cols) if svc == service]
            cz_prime = float(np.nanmax(np.r_[m1[culprit], -1.0]))
            cz_local = float(np.nanmax(np.r_[mB1[culprit], -1.0]))
            res["culprit_max_abs_z_prime"] = _num(cz_prime) if cz_prime >= 0 else None
            res["culprit_max_abs_z_local"] = _num(cz_local) if cz_local >= 0 else None
            res["culprit_unmoved_prime"] = cz_prime < MOVED_Z
            res["culprit_unmoved_local"] = cz_local < MOVED_Z
            variants = {
                "A1": (m1, da.ref1), "A2": (m2, da.ref2),
                "A1_strict": (m1, strict1), "A2_strict": (m2, strict2),
                "A1_pooled": (m1, pl["ref1"]), "A2_pooled": (m2, pl["ref2"]),
                "A1_1fp": (m1, da.ref1_fp), "A2_1fp": (m2, da.ref2_fp),
                "B1": (mB1, da.refB1), "B2": (mB2, da.refB2),
                "B1_pooled": (mB1, pl["refB1"]), "B2_pooled": (mB2, pl["refB2"]),
                "B1_quiet": (mB1, Bq1), "B2_quiet": (mB2, Bq2),
                "B1_clean": (mBc1, da.refB1), "B2_clean": (mBc2, da.refB2),
                "C1": (mC1, da.refC1), "C2": (mC2, da.refC2),
                "C1_strict": (mC1, strictC1), "C2_strict": (mC2, strictC2),
            }
            # fresh: the signal must have been within its reference in the PRE_STEPS steps before
            # the window (a new excursion, not a level it already sat at: a level shift, drift, or
            # the tail of the previous fault)
            i0 = int(wi[0]) if len(wi) else 0
            pre = {k: da_z[max(0, i0 - PRE_STEPS) : i0] for k, da_z in (("A", da.zA_fault), ("C", da.zC_fault))}
            for k in ("A", "C"):
                m_1, m_2 = (m1, m2) if k == "A" else (mC1, mC2)
                r1, r2 = (da.ref1, da.ref2) if k == "A" else (da.refC1, da.refC2)
                p1, p2 = nanmax0(pre[k]), nanmax0(two_step(pre[k]))
                variants[f"{k}1_fresh"] = (m_1, r1, p1)
                variants[f"{k}2_fresh"] = (m_2, r2, p2)
            for name, v in variants.items():
                m, ref = v[0], v[1]
                pre_max = v[2] if len(v) > 2 else None
                for f in FLOORS:
                    rf = np.fmax(ref, f)
                    mf = m if pre_max is None else np.where(pre_max > rf, np.nan, m)
                    sens[name][f] += bool(np.any(_ratio(mf, rf) > 1))
                ref = np.where(np.isfinite(ref), np.fmax(ref, z_floor), np.nan)
                if pre_max is not None:
                    m = np.where(pre_max > ref, np.nan, m)
                r = _ratio(m, ref)
                allv = _visible_list(da.cols, r, m, ref, 10**6)
                res[name] = {"visible": bool(allv), "n_visible_signals": len(allv),
                             "best": _best(da.cols, r, m, ref), "best_culprit": _best(da.cols, r, m, ref, service),
                             "culprit_visible": any(v["service"] == service for v in allv)}
                if name in ("A1", "A2", "B1", "B2", "C1", "C2", "A1_fresh", "A2_fresh", "C1_fresh", "C2_fresh"):
                    res[name]["visible_signals"] = allv[:12]
            faults_out.append(res)
    totals: dict = {}
    for n in VARIANT_HELP:
        by_type: dict[str, list[int]] = {}
        for f in faults_out:
            c = by_type.setdefault(f["fault_type"], [0, 0])
            c[0] += f[n]["visible"]
            c[1] += 1
        totals[n] = {"visible": sum(f[n]["visible"] for f in faults_out), "of": len(faults_out),
                     "culprit_visible": sum(f[n]["culprit_visible"] for f in faults_out),
                     "by_type": {k: f"{a}/{b}" for k, (a, b) in sorted(by_type.items())},
                     "visible_by_z_floor": {str(k): v for k, v in sens[n].items()},
                     "invisible": [_fault_line(f, n) for f in faults_out if not f[n]["visible"]]}
    totals["union_A1_or_B1"] = sum(f["A1"]["visible"] or f["B1"]["visible"] for f in faults_out)
    totals["union_A2_or_B2"] = sum(f["A2"]["visible"] or f["B2"]["visible"] for f in faults_out)
    # each variant has no false alarm on the eval hours, so a detector OR-ing them has none either
    # robustness: a reference is a maximum over only ~15 h, so count faults whose best margin
    # (z / reference, over the OR of the three families) clears a safety factor
    for k in ("1", "2"):
        names = (f"A{k}_fresh", f"C{k}_fresh", f"B{k}")
        best = [max((_as_float(f[n]["best"]["ratio"]) if f[n]["best"] else 0.0) for n in names) for f in faults_out]
        totals[f"union_A{k}fresh_C{k}fresh_B{k}_by_margin"] = {str(mg): sum(b > mg for b in best) for mg in MARGINS}
        totals[f"weak_union_A{k}fresh_C{k}fresh_B{k}"] = [
            _fault_line(f, None) + f"; best margin {b:.2f} (" + "; ".join(f"{n} {_fmt_best(f[n]['best'])}" for n in names) + ")"
            for f, b in zip(faults_out, best) if b <= 2.0]
    for k in ("1", "2"):
        names = (f"A{k}_fresh", f"C{k}_fresh", f"B{k}")
        totals[f"union_A{k}fresh_C{k}fresh_B{k}"] = [sum(any(f[n]["visible"] for n in names) for f in faults_out), len(faults_out)]
        totals[f"invisible_union_A{k}fresh_C{k}fresh_B{k}"] = [
            _fault_line(f, None) + "; best " + "; ".join(f"{n} {_fmt_best(f[n]['best'])}" for n in names)
            for f in faults_out if not any(f[n]["visible"] for n in names)]
    for k in ("1", "2"):
        totals[f"union_B{k}_B{k}clean_C{k}"] = [sum(f[f"B{k}"]["visible"] or f[f"B{k}_clean"]["visible"] or f[f"C{k}"]["visible"]
                                                    for f in faults_out), len(faults_out)]
        totals[f"union_B{k}_B{k}clean_C{k}_strict"] = [sum(f[f"B{k}"]["visible"] or f[f"B{k}_clean"]["visible"]
                                                           or f[f"C{k}_strict"]["visible"] for f in faults_out), len(faults_out)]
        totals[f"invisible_union_B{k}_B{k}clean_C{k}"] = [
            _fault_line(f, f"C{k}") + f" | B{k}_clean {_fmt_best(f[f'B{k}_clean']['best'])}" for f in faults_out
            if not (f[f"B{k}"]["visible"] or f[f"B{k}_clean"]["visible"] or f[f"C{k}"]["visible"])]
    totals["no_local_baseline"] = [_fault_line(f, None) for f in faults_out if not f["local_baseline"]]
    for k in ("prime", "local"):
        totals[f"culprit_unmoved_{k}"] = [_fault_line(f, None) for f in faults_out if f[f"culprit_unmoved_{k}"]]
    return {"within_s": within, "z_floor": z_floor, "moved_z": MOVED_Z, "variants": VARIANT_HELP, "days": days_out,
            "fault_free_eval_hours": round(sum(d["eval_hours"] for d in days_out), 2), "totals": totals, "faults": faults_out}


def _as_float(x) -> float:
    return float("inf") if x == "inf" else float(x)


def _fault_line(f: dict, variant: str | None) -> str:
    s = f"{f['day']} {f['inject_utc']} {f['service']} {f['fault_type']}"
    if variant:
        s += f" (best {_fmt_best(f[variant]['best'])})"
    return s


def _fmt_best(b: dict | None) -> str:
    if not b:
        return "-"
    return f"{b['ratio']}x {b['service']}/{b['signal']} (z {b['z']} vs ref {b['ref']})"


def report(out: dict) -> str:
    lines = [(f"within {out['within_s']:.0f} s; references floored at |z| {out['z_floor']:g}; fault-free eval hours "
              f"{out['fault_free_eval_hours']} (references are maxima over them)")]
    for d in out["days"]:
        lines.append(f"  {d['day']}: {len(d['services'])} services, {d['signals_with_data']} (service, signal) columns with data; "
                     f"prime {d['prime_hours']} h, eval {d['eval_hours']} h; fault-day data from {d['fault_data_from_utc']} "
                     f"(first injection {d['first_inject_utc']}); quiet anchors {d['quiet_anchors']} ({d['quiet_minutes']} "
                     f"quiet minutes); rolling eval anchors {d['eval_anchors_local']}")
    t = out["totals"]
    lines.append("")
    lines.append(f"{'variant':<11}{'visible':>9}{'culprit':>9}  by z-floor {'/'.join(f'{f:g}' for f in FLOORS):<12}  by fault type")
    for n, h in out["variants"].items():
        v = t[n]
        lines.append(f"{n:<11}{v['visible']:>5}/{v['of']:<3}{v['culprit_visible']:>9}  "
                     f"{'/'.join(str(x) for x in v['visible_by_z_floor'].values()):<23}  "
                     + ", ".join(f"{k} {x}" for k, x in v["by_type"].items()))
    lines.append("")
    for n, h in out["variants"].items():
        lines.append(f"  {n}: {h}")
    lines.append(f"union A1|B1: {t['union_A1_or_B1']}/56   union A2|B2: {t['union_A2_or_B2']}/56")
    for k in ("1", "2"):
        a = t[f"union_A{k}fresh_C{k}fresh_B{k}"]
        mg = t[f"union_A{k}fresh_C{k}fresh_B{k}_by_margin"]
        lines.append(f"union A{k}_fresh|C{k}_fresh|B{k}: {a[0]}/{a[1]}; with best margin > " + ", ".join(f"{m}: {v}" for m, v in mg.items())
                     + "; faults with best margin <= 2:")
        lines += [f"  {x}" for x in t[f"weak_union_A{k}fresh_C{k}fresh_B{k}"]]
    for k in ("1", "2"):
        a, b = t[f"union_B{k}_B{k}clean_C{k}"], t[f"union_B{k}_B{k}clean_C{k}_strict"]
        lines.append(f"union B{k}|B{k}_clean|C{k}: {a[0]}/{a[1]}   with C{k}_strict: {b[0]}/{b[1]}; invisible in B{k}|B{k}_clean|C{k}:")
        lines += [f"  {x}" for x in t[f"invisible_union_B{k}_B{k}clean_C{k}"]]
    lines.append(f"no day-local baseline (fewer than {BASE_MIN} steps of fault-day data before): {t['no_local_baseline']}")
    for k in ("prime", "local"):
        lines.append(f"culprit with no signal |z| >= {MOVED_Z:g} in the window ({k} baseline): {len(t[f'culprit_unmoved_{k}'])}")
        lines += [f"  {s}" for s in t[f"culprit_unmoved_{k}"]]
    for n in ("A1", "A2", "A1_strict", "A1_fresh", "A2_fresh", "B1", "B2", "C1", "C2", "C1_strict", "C1_fresh", "C2_fresh"):
        lines.append(f"\ninvisible in {n}: {len(t[n]['invisible'])}")
        lines += [f"  {s}" for s in t[n]["invisible"]]
    lines.append("\nper fault [A1 A2 A1_strict A1_fresh A2_fresh B1 B2 C1 C2 C1_fresh C2_fresh, V = visible]: best margin (z in window / reference) per variant;"
                 " culprit's best; culprit max |z| prime/local")
    for f in out["faults"]:
        flags = "".join("V" if f[n]["visible"] else "." for n in ("A1", "A2", "A1_strict", "A1_fresh", "A2_fresh", "B1", "B2", "C1",
                                                                  "C2", "C1_fresh", "C2_fresh"))
        lines.append(f"{f['day']} {f['inject_utc']} {f['service']:<22}{f['fault_type']:<15} [{flags}]")
        for n in ("A1", "A1_fresh", "A2_fresh", "B1", "B2", "C1", "C1_fresh", "C2_fresh"):
            lines.append(f"    {n:<8} {_fmt_best(f[n]['best'])}  n={f[n]['n_visible_signals']}")
        lines.append(f"    culprit  A1 {_fmt_best(f['A1']['best_culprit'])}; B1 {_fmt_best(f['B1']['best_culprit'])}; max|z| prime "
                     f"{f['culprit_max_abs_z_prime']} local {f['culprit_max_abs_z_local']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--path", type=Path, default=Path("/tmp/ds"))
    ap.add_argument("--prime-hours", type=float, default=4.0)
    ap.add_argument("--within", type=float, default=180.0, help="seconds after injection that count")
    ap.add_argument("--z-floor", type=float, default=3.0,
                    help="a reference is at least this |z| (a signal flat in normal data is not 'visible' on a tiny wiggle)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    began = time.time()
    days = load_days(args.path, args.prime_hours)
    out = analyse(days, args.within, args.z_floor)
    out["seconds"] = round(time.time() - began, 1)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(report(out))
        print(f"\n{out['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
