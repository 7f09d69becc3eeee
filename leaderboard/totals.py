"""VBench-style Quality / Semantic / Total aggregation, driven by a versioned JSON config.

Formula (per result)::

    norm_d   = (v_d - min_d) / (max_d - min_d)          higher-is-better dimension d
    norm_d   = (max_d - v_d) / (max_d - min_d)          lower-is-better dimension d
    group_g  = sum_{d in g} w_d * norm_d / sum_{d in g} w_d
    Total    = sum_g W_g * group_g / sum_g W_g           (groups with W_g > 0)

Range: [0, 1] with ``"clip": true`` (the default): normalised values outside [0, 1] (a
value beyond VBench's calibrated max, e.g. a physics ground truth smoother than any model)
are clipped, and each clipping is counted in the output (``clipped``: dimension -> the
unclipped normalised value), so a Total never exceeds 1. ``"clip": false`` leaves them as
they are (VBench's own script does not clip). Direction: higher is better.

Two keys restrict what enters: ``"modes"`` (e.g. ``["vbench"]``: values computed in another
mode are left out, listed under ``wrong_mode``) and ``"require_all_dimensions"`` (no group
score and no Total unless every weighted dimension has a value: a VBench Total over 6 of
its 16 dimensions is not VBench's Total). ``totals_vbench_official_v1.json`` uses both to
reproduce the published board's formula (``scripts/cal_final_score.py``).

Units: each dimension may declare ``"units"`` (text) and ``"range"`` ([lo, hi], the values
the metric can take in those units, e.g. clip_score is ``100*cos`` in [0, 100]). At load
the config's min/max must lie inside that range; at compute time a value outside it means
the metric and the config disagree on units, and the dimension is left out of the total
(``out_of_range``) instead of being normalised into nonsense.

Common dimension set: the leaderboard computes every row's total over the same dimensions
(``dims=``: those every row has a value for), so totals of different rows always mean the
same thing; the dimensions left out are named in its notes.

The config (default: ``totals_vbench_style_v2.json`` beside this module, VBench's published
constants) is never hard-wired: pass any file with the same schema. Its canonical sha256 is
carried in the output (``config.hash``), so two totals computed with different configs are
never mistaken for each other. ``on_missing`` decides what a missing dimension does:
``renormalize`` (weighted mean over the dimensions present; the group is flagged
incomplete), ``nan`` (the group is NaN), ``zero`` (VBench's own script: the dimension
counts as 0).

Confidence intervals: when per-video data are present, a seeded bootstrap over items
resamples every dimension jointly (the same items for all), so the CI of the Total accounts
for correlation between dimensions. Without per-video data the CI is NaN.

Blind to: anything not in the config; the calibration of min/max (VBench's bounds were set
on its own models and vbench-mode values; default-protocol values use the same bounds).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidbench.errors import UserError
from vidbench.fileio import read_json
from vidbench.leaderboard.load import MetricEntry, Result

DEFAULT_CONFIG = Path(__file__).with_name("totals_vbench_style_v2.json")
TOTALS_SCHEMA = "vidbench.totals/1"
ON_MISSING = ("renormalize", "nan", "zero")


@dataclass
class TotalsConfig:
    """A validated totals config; ``hash`` is the sha256 of its canonical JSON."""

    raw: dict
    path: str
    name: str
    version: int
    hash: str
    groups: dict[str, dict]
    dimensions: dict[str, dict]
    on_missing: str
    clip: bool
    #: the Total exists only when every weighted dimension has a value (VBench's board)
    require_all: bool = False
    #: modes a dimension's value must come from (empty: any mode)
    modes: tuple[str, ...] = ()

    @property
    def short(self) -> str:
        return f"{self.name} v{self.version} ({self.hash[:8]})"

    def weighted_dims(self) -> list[str]:
        """Dimensions that can move the Total: weight > 0 in a group of weight > 0."""
        return [d for d, sp in self.dimensions.items()
                if sp["weight"] > 0 and self.groups[sp["group"]]["weight"] > 0]

    def restricted(self, dims: list[str] | set[str]) -> TotalsConfig:
        """The same config over ``dims`` only (groups left without a dimension dropped);
        ``hash`` stays the full config's, so the source config is still identified."""
        keep = {d: sp for d, sp in self.dimensions.items() if d in set(dims)}
        groups = {g: sp for g, sp in self.groups.items()
                  if any(d["group"] == g for d in keep.values())}
        return TotalsConfig(raw=self.raw, path=self.path, name=self.name,
                            version=self.version, hash=self.hash, groups=groups,
                            dimensions=keep, on_missing=self.on_missing, clip=self.clip,
                            require_all=self.require_all, modes=self.modes)

    def mode_problem(self, mode: str | None) -> str | None:
        """Why a value computed in ``mode`` cannot enter this config's totals, or None."""
        if self.modes and mode not in self.modes:
            return (f"computed in {mode or 'an unknown'} mode; {self.name} takes "
                    f"{'/'.join(self.modes)}-mode values only")
        return None


def config_hash(raw: dict) -> str:
    """sha256 of the config's canonical JSON (sorted keys, no whitespace)."""
    blob = json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def parse_config(raw: Any, path: str = "<totals config>") -> TotalsConfig:
    """Validate a totals config object; errors name ``path`` and the key."""
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a JSON object")
    if raw.get("schema") != TOTALS_SCHEMA:
        raise UserError(f"{path}: schema is {raw.get('schema')!r}, expected {TOTALS_SCHEMA!r}")
    for key in ("name", "version", "groups", "dimensions"):
        if key not in raw:
            raise UserError(f"{path}: missing required key {key!r}")
    groups, dims = raw["groups"], raw["dimensions"]
    if not isinstance(groups, dict) or not groups:
        raise UserError(f"{path}: groups: expected a non-empty object")
    for g, spec in groups.items():
        w = spec.get("weight") if isinstance(spec, dict) else None
        if not isinstance(w, (int, float)) or isinstance(w, bool) or w < 0:
            raise UserError(f"{path}: groups.{g}.weight: expected a number >= 0, got {w!r}")
    if not any(spec["weight"] > 0 for spec in groups.values()):
        raise UserError(f"{path}: groups: at least one group needs a weight > 0")
    if not isinstance(dims, dict) or not dims:
        raise UserError(f"{path}: dimensions: expected a non-empty object")
    for d, spec in dims.items():
        where = f"{path}: dimensions.{d}"
        if not isinstance(spec, dict):
            raise UserError(f"{where}: expected an object")
        if spec.get("group") not in groups:
            raise UserError(f"{where}.group: {spec.get('group')!r} is not one of "
                            f"{sorted(groups)}")
        for key in ("min", "max", "weight"):
            v = spec.get(key)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise UserError(f"{where}.{key}: expected a finite number, got {v!r}")
        if spec["max"] <= spec["min"]:
            raise UserError(f"{where}: max ({spec['max']}) must be greater than min "
                            f"({spec['min']})")
        if spec["weight"] < 0:
            raise UserError(f"{where}.weight: must be >= 0")
        rng = spec.get("range")
        if rng is not None:
            if (not isinstance(rng, list) or len(rng) != 2 or not all(
                    isinstance(x, (int, float)) and not isinstance(x, bool)
                    and math.isfinite(x) for x in rng) or rng[1] <= rng[0]):
                raise UserError(f"{where}.range: expected [lo, hi] with lo < hi, got {rng!r}")
            if not (rng[0] <= spec["min"] and spec["max"] <= rng[1]):
                raise UserError(f"{where}: min/max [{spec['min']}, {spec['max']}] lie outside "
                                f"the metric's range {rng} in {spec.get('units', 'its units')}"
                                " (units mismatch?)")
    on_missing = raw.get("on_missing", "renormalize")
    if on_missing not in ON_MISSING:
        raise UserError(f"{path}: on_missing: {on_missing!r} is not one of {ON_MISSING}")
    modes = raw.get("modes", [])
    if not isinstance(modes, list) or not all(isinstance(m, str) for m in modes):
        raise UserError(f"{path}: modes: expected a list of mode names, got {modes!r}")
    require_all = raw.get("require_all_dimensions", False)
    if not isinstance(require_all, bool):
        raise UserError(f"{path}: require_all_dimensions: expected true or false")
    return TotalsConfig(raw=raw, path=path, name=str(raw["name"]), version=int(raw["version"]),
                        hash=config_hash(raw), groups=groups, dimensions=dims,
                        on_missing=on_missing, clip=bool(raw.get("clip", True)),
                        require_all=require_all, modes=tuple(modes))


#: shipped configs by name (``--totals-config NAME``): the file ``totals_<name>.json``
SHIPPED_CONFIGS = {"vbench-style": "totals_vbench_style_v2.json",
                   "vbench-style-v1": "totals_vbench_style_v1.json",
                   "vbench-official": "totals_vbench_official_v1.json"}


def load_config(path: str | Path | None = None) -> TotalsConfig:
    """Load a totals config: a JSON file, or a shipped one by name (:data:`SHIPPED_CONFIGS`;
    default: ``vbench-style``, v2)."""
    if path is not None and str(path) in SHIPPED_CONFIGS:
        path = DEFAULT_CONFIG.with_name(SHIPPED_CONFIGS[str(path)])
    p = Path(path) if path is not None else DEFAULT_CONFIG
    if not p.exists():
        raise UserError(f"{p}: no such totals config (shipped by name: "
                        f"{', '.join(SHIPPED_CONFIGS)})")
    raw = read_json(p)
    return parse_config(raw, str(p))


def normalise(value: float, spec: dict, higher_is_better: bool, clip: bool = False) -> float:
    """Min/max-normalise one value so that 1 is best (see module docstring)."""
    lo, hi = float(spec["min"]), float(spec["max"])
    x = (value - lo) / (hi - lo) if higher_is_better else (hi - value) / (hi - lo)
    return min(max(x, 0.0), 1.0) if clip else x


def _combine(norm: dict[str, float], cfg: TotalsConfig) -> dict[str, dict]:
    """Group scores and Total from normalised dimension values (NaN = missing)."""
    out: dict[str, dict] = {}
    for g in cfg.groups:
        dims = [d for d, s in cfg.dimensions.items() if s["group"] == g]
        used = [d for d in dims if math.isfinite(norm.get(d, math.nan))]
        missing = [d for d in dims if d not in used]
        if cfg.on_missing == "zero":
            vals = {d: (norm[d] if d in used else 0.0) for d in dims}
            ws = {d: cfg.dimensions[d]["weight"] for d in dims}
        elif cfg.on_missing == "nan" and missing:
            vals, ws = {}, {}
        else:
            vals = {d: norm[d] for d in used}
            ws = {d: cfg.dimensions[d]["weight"] for d in used}
        wsum = sum(ws.values())
        value = (sum(ws[d] * vals[d] for d in vals) / wsum) if wsum > 0 else math.nan
        out[g] = {"value": value, "dims_used": used, "dims_missing": missing,
                  "complete": not missing}
    tot_groups = [g for g, s in cfg.groups.items() if s["weight"] > 0]
    avail = [g for g in tot_groups if math.isfinite(out[g]["value"])]
    if cfg.on_missing == "nan" and len(avail) < len(tot_groups):
        total = math.nan
    else:
        wsum = sum(cfg.groups[g]["weight"] for g in avail)
        total = (sum(cfg.groups[g]["weight"] * out[g]["value"] for g in avail) / wsum
                 if wsum > 0 else math.nan)
    out["total"] = {"value": total, "groups_used": avail,
                    "complete": len(avail) == len(tot_groups)
                    and all(out[g]["complete"] for g in tot_groups)}
    return out


def _combine_arrays(norm: dict[str, np.ndarray], cfg: TotalsConfig, size: int
                    ) -> dict[str, np.ndarray]:
    """:func:`_combine` over arrays of bootstrap replicates (values only)."""
    out: dict[str, np.ndarray] = {}
    nan = np.full(size, np.nan)
    for g in cfg.groups:
        dims = [d for d, sp in cfg.dimensions.items() if sp["group"] == g]
        if not dims:
            out[g] = nan
            continue
        vals = np.stack([norm.get(d, nan) for d in dims], axis=1)
        w = np.array([cfg.dimensions[d]["weight"] for d in dims], dtype=float)
        fin = np.isfinite(vals)
        v0 = np.where(fin, vals, 0.0)
        with np.errstate(all="ignore"):
            if cfg.on_missing == "zero":
                out[g] = (v0 * w).sum(1) / w.sum() if w.sum() > 0 else nan
            elif cfg.on_missing == "nan":
                out[g] = (vals * w).sum(1) / w.sum() if w.sum() > 0 else nan
            else:
                ws = (fin * w).sum(1)
                out[g] = np.where(ws > 0, (v0 * w).sum(1) / np.where(ws > 0, ws, 1), np.nan)
    tg = [g for g, sp in cfg.groups.items() if sp["weight"] > 0]
    gv = np.stack([out[g] for g in tg], axis=1)
    gw = np.array([cfg.groups[g]["weight"] for g in tg], dtype=float)
    fin = np.isfinite(gv)
    with np.errstate(all="ignore"):
        if cfg.on_missing == "nan":
            out["total"] = (gv * gw).sum(1) / gw.sum()
        else:
            ws = (fin * gw).sum(1)
            out["total"] = np.where(ws > 0, (np.where(fin, gv, 0.0) * gw).sum(1)
                                    / np.where(ws > 0, ws, 1), np.nan)
    return out


def in_range(value: float, spec: dict) -> bool:
    """Whether ``value`` lies in the dimension's declared ``range`` (True without one)."""
    rng = spec.get("range")
    return rng is None or (rng[0] <= value <= rng[1])


def compute_totals(result: Result, cfg: TotalsConfig | None = None, *, n_boot: int = 2000,
                   seed: int = 0, dims: list[str] | set[str] | None = None) -> dict:
    """Quality/Semantic/.../Total of one result under ``cfg`` (over ``dims`` only, when
    given: see "Common dimension set" in the module docstring).

    Returns ``{"config": {name, version, hash, path}, "normalised": {dim: x},
    "clipped": {dim: unclipped x}, "out_of_range": {dim: value},
    "wrong_mode": {dim: why}, "dims": [...],
    "groups": {group: {value, ci95, dims_used, dims_missing, complete}},
    "total": {value, ci95, groups_used, complete}, "comparable": bool}``."""
    cfg = cfg or load_config()
    if dims is not None:
        cfg = cfg.restricted(dims)
    norm: dict[str, float] = {}
    clipped: dict[str, float] = {}
    out_of_range: dict[str, float] = {}
    comparable = True
    wrong_mode: dict[str, str] = {}
    for d, spec in cfg.dimensions.items():
        m = result.metrics.get(d)
        if m is None or not math.isfinite(m.value):
            continue
        if not in_range(m.value, spec):
            out_of_range[d] = m.value
            continue
        why = cfg.mode_problem(m.mode)
        if why:
            wrong_mode[d] = why
            continue
        x = normalise(m.value, spec, m.higher_is_better, False)
        if cfg.clip and not 0.0 <= x <= 1.0:
            clipped[d] = x
            x = min(max(x, 0.0), 1.0)
        norm[d] = x
        comparable &= m.comparable
    out = _combine(norm, cfg)
    if cfg.require_all and set(norm) < set(cfg.weighted_dims()):
        # e.g. VBench's board: a Total over fewer than all its dimensions is not that Total
        for k in [*cfg.groups, "total"]:
            out[k]["value"] = math.nan
    keys = [*cfg.groups, "total"]
    for k in keys:
        out[k]["ci95"] = [math.nan, math.nan]
    # joint bootstrap over items, when per-video data exist for the dimensions used
    dims = [d for d in norm if result.per_item(d)]
    if dims and n_boot > 0:
        items = sorted({i for d in dims for i in result.per_item(d)})
        mat = np.full((len(items), len(dims)), np.nan)
        index = {it: k for k, it in enumerate(items)}
        for j, d in enumerate(dims):
            for it, v in result.per_item(d).items():
                mat[index[it], j] = v
        if len(items) >= 2:
            rng = np.random.default_rng(seed)
            # resample items as multinomial counts: the replicate means are then two
            # matrix products (NaN cells, dimensions an item lacks, get weight 0)
            n_it = len(items)
            idx = rng.integers(0, n_it, size=(n_boot, n_it))
            flat = (np.arange(n_boot)[:, None] * n_it + idx).ravel()
            counts = np.bincount(flat, minlength=n_boot * n_it).reshape(n_boot, n_it)
            counts = counts.astype(float)
            fin = np.isfinite(mat)
            with np.errstate(all="ignore"):
                means = (counts @ np.where(fin, mat, 0.0)) / (counts @ fin)
            nb: dict[str, np.ndarray] = {d: np.full(n_boot, v) for d, v in norm.items()}
            for j, d in enumerate(dims):
                spec, hib = cfg.dimensions[d], result.metrics[d].higher_is_better
                x = (means[:, j] - spec["min"]) / (spec["max"] - spec["min"])
                x = x if hib else 1.0 - x
                nb[d] = np.clip(x, 0.0, 1.0) if cfg.clip else x
            boots = _combine_arrays(nb, cfg, n_boot)
            for k in keys:
                v = boots[k][np.isfinite(boots[k])]
                if len(v) >= 2 and math.isfinite(out[k]["value"]):
                    out[k]["ci95"] = [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))]
    return {"config": {"name": cfg.name, "version": cfg.version, "hash": cfg.hash,
                       "path": cfg.path},
            "normalised": norm, "clipped": clipped, "out_of_range": out_of_range,
            "wrong_mode": wrong_mode,
            "dims": list(cfg.dimensions), "groups": {g: out[g] for g in cfg.groups},
            "total": out["total"], "comparable": comparable}


def totals_entries(result: Result, cfg: TotalsConfig, totals: dict | None = None
                   ) -> dict[str, MetricEntry]:
    """The totals of ``result`` as pseudo-metric entries (``total``, ``quality``, ...) so
    the leaderboard treats them like metrics. Their ``protocol`` hashes the config hash with
    the protocol and weights of every dimension used, so totals built from different
    protocols, weights or dimension sets never share a column."""
    totals = totals or compute_totals(result, cfg)
    out: dict[str, MetricEntry] = {}
    n = max((len(result.per_item(d)) for d in totals["normalised"]), default=0)
    named = [("total", totals["total"], list(totals["normalised"]))]
    named += [(g, totals["groups"][g], totals["groups"][g]["dims_used"])
              for g in totals["groups"]]
    for name, t, used in named:
        if not used or not math.isfinite(t["value"]):
            continue
        if name == "total":
            used = [d for g in t["groups_used"] for d in totals["groups"][g]["dims_used"]]
        fp = {"config": cfg.hash, "on_missing": cfg.on_missing,
              "dims": {d: [result.metrics[d].protocol, sorted(result.metrics[d].weights.items())]
                       for d in sorted(used)}}
        weights: dict[str, str | None] = {}
        for d in used:
            weights.update(result.metrics[d].weights)
        parts = {d: {"protocol": result.metrics[d].protocol,
                     "weights": dict(sorted(result.metrics[d].weights.items())),
                     "comparable": result.metrics[d].comparable} for d in sorted(used)}
        out[name] = MetricEntry(
            name=name, value=float(t["value"]), ci95=(float(t["ci95"][0]), float(t["ci95"][1])),
            n=n, n_failed=0, mode="totals", version=f"{cfg.name}/v{cfg.version}",
            higher_is_better=True, comparable=all(result.metrics[d].comparable for d in used),
            protocol=hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:16],
            weights=weights, parts=parts)
    return out
