"""Describe a lab's recording layout instead of converting it: the *recording spec*.

A :class:`RecordingSpec` says where a recording's Units table (or ΔF/F trace) is, which units to keep, which
trials columns hold the reward size and the events the response windows follow, and how responses are
computed. The same names are used everywhere, so a lab's description works with any later version:

* as TOML (``recording.toml``), with keys at the top level or inside one level of tables (the issue's
  layout puts reader options in ``[recording]`` and response options in ``[responses]``)::

      [recording]
      units = "processing/ecephys/units"
      unit_filter = "cell_type == 'dopamine'"
      reward_column = "reward_size"
      reward_scale = 1.0
      align_column = "outcome_time"

      [responses]
      signal = "spikes"
      window_ms = [200, 600]
      max_silence_s = "none"

* as command-line flags: the key with ``--`` and ``-`` for ``_`` (``--reward-column reward_size``);
* as ``--config recording.toml`` of ``fit dopamine`` / ``reproduce dopamine`` (:mod:`neurorl._config`): the same
  file may also hold the analysis options (``bootstrap = 500``), which :meth:`RecordingSpec.from_toml` skips;
* in Python: ``RecordingSpec(reward_column="reward_size")`` or ``RecordingSpec.from_toml(path)``.

Precedence: built-in default < preset (:data:`PRESETS`, ``--preset``) < TOML file < flags.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidArgumentError

__all__ = ["RecordingSpec", "PRESETS", "PRESET_ANALYSIS", "SPEC_KEYS", "OTHER_CONFIG_KEYS", "SIGNALS", "preset_spec"]

#: Accepted values of ``signal``.
SIGNALS: tuple[str, ...] = ("spikes", "dff")
_SMOOTHING = ("none", "original")


@dataclass(frozen=True)
class RecordingSpec:
    """Where the data of a recording are and how responses are computed from them.

    Attributes
    ----------
    units
        NWB path of the Units table (``"units"``, ``"processing/ecephys/units"``). ``None``: the top-level
        units, else the only Units table in the file (several: an error listing them).
    unit_filter
        A :meth:`pandas.DataFrame.query` expression on the units table's columns
        (``"cell_type == 'dopamine'"``). ``None``: every unit.
    reward_column
        Trials (or EventsTable) column with the reward size. Default ``reward_volume`` (neurorl's files).
    reward_scale
        Factor that turns the reward column into µl (1000 for ml). Default 1.
    align_column
        Trials column with the time (s) of the event the response window follows. Default ``reward_time``.
    baseline_column
        Trials column with the time (s) the baseline window is relative to. Default ``start_time``.
    trial_type_column
        Trials column with ``uncued`` / ``cued`` / ``other``; ``None``: ``trial_type`` when the table has it.
    signal
        ``"spikes"`` (a Units table) or ``"dff"`` (a ΔF/F trace, one "cell" per ROI/fiber/channel).
    series
        NWB path of the trace when ``signal = "dff"``; ``None``: the only RoiResponseSeries /
        FiberPhotometryResponseSeries in the file.
    window_ms
        Response window (ms after the align event), half-open. Default (200, 600) ms: Dabney et al. 2020
        (the original's ``responseWindowUnexp = [200 600]``, GEN_dabneys_fit.m line 11).
    baseline_window_ms
        Baseline window (ms relative to the baseline event). Default (-1000, 0) ms: the original's
        ``baselineWindow = [-1000 0]`` (GEN_dabneys_fit.m line 10).
    smoothing
        ``"none"`` (spike counts; neurorl's default) or ``"original"`` (the original analysis' kernel).
    max_silence_s
        Drop a unit's trials inside silences longer than this (s): a lost unit. ``None`` keeps every trial.
        Default 20 s (assumed: several times the longest inter-spike interval of a 1 spikes/s Poisson
        unit, e^-20 chance).
    zscore
        Z-score each cell's responses (as for cortical recordings, Muller et al. 2024). Default False.
    """

    units: str | None = None
    unit_filter: str | None = None
    reward_column: str = "reward_volume"
    reward_scale: float = 1.0
    align_column: str = "reward_time"
    baseline_column: str = "start_time"
    trial_type_column: str | None = None
    signal: str = "spikes"
    series: str | None = None
    window_ms: tuple[float, float] = (200.0, 600.0)
    baseline_window_ms: tuple[float, float] = (-1000.0, 0.0)
    smoothing: str = "none"
    max_silence_s: float | None = 20.0
    zscore: bool = False

    def __post_init__(self) -> None:
        coerce = object.__setattr__
        coerce(self, "window_ms", _pair("window_ms", self.window_ms))
        coerce(self, "baseline_window_ms", _pair("baseline_window_ms", self.baseline_window_ms))
        if self.window_ms[1] <= self.window_ms[0]:
            raise InvalidArgumentError(f"window_ms must be [start, end] with end > start, got {list(self.window_ms)}")
        if self.baseline_window_ms[1] <= self.baseline_window_ms[0]:
            raise InvalidArgumentError("baseline_window_ms must be [start, end] with end > start, got "
                                       f"{list(self.baseline_window_ms)}")
        smoothing = "none" if self.smoothing is None else str(self.smoothing).lower()
        if smoothing not in _SMOOTHING:
            raise InvalidArgumentError(f"smoothing must be one of {list(_SMOOTHING)}, got {self.smoothing!r}")
        coerce(self, "smoothing", smoothing)
        if self.signal not in SIGNALS:
            raise InvalidArgumentError(f"signal must be one of {list(SIGNALS)}, got {self.signal!r}")
        if self.signal == "dff" and smoothing != "none":
            raise InvalidArgumentError("smoothing applies to spikes; use smoothing = 'none' with signal = 'dff'")
        coerce(self, "max_silence_s", _silence(self.max_silence_s))
        try:
            scale = float(self.reward_scale)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"reward_scale must be a number, got {self.reward_scale!r}") from None
        if not (math.isfinite(scale) and scale > 0):
            raise InvalidArgumentError(f"reward_scale must be a positive number, got {self.reward_scale!r}")
        coerce(self, "reward_scale", scale)
        if not isinstance(self.zscore, bool):
            raise InvalidArgumentError(f"zscore must be true or false, got {self.zscore!r}")
        for name in ("reward_column", "align_column", "baseline_column"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise InvalidArgumentError(f"{name} must be a column name, got {getattr(self, name)!r}")

    # ------------------------------------------------------------------------------------------- builders
    def replace(self, **changes: Any) -> RecordingSpec:
        """A copy with ``changes`` applied (``None`` values are ignored: they mean "not given")."""
        unknown = sorted(set(changes) - set(SPEC_KEYS))
        if unknown:
            raise InvalidArgumentError(f"unknown recording option(s) {unknown}; known: {', '.join(SPEC_KEYS)}")
        given = {k: v for k, v in changes.items() if v is not None}
        if not given:
            return self
        return RecordingSpec(**{**dataclasses.asdict(self), **given})

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any], *, source: str | os.PathLike | None = None,
                     base: RecordingSpec | None = None) -> RecordingSpec:
        """Build a spec from a (TOML-like) mapping; keys at the top level or inside one level of tables.

        A ``preset`` key applies that preset first. Unknown keys raise :class:`InvalidArgumentError`
        listing the known ones (and naming ``source``).
        """
        flat: dict[str, Any] = {}
        for key, value in options.items():
            if isinstance(value, Mapping):
                for inner, inner_value in value.items():
                    flat[inner] = inner_value
            else:
                flat[key] = value
        preset = flat.pop("preset", None)
        for key in OTHER_CONFIG_KEYS:  # the analysis options of the same --config file: not the spec's
            flat.pop(key, None)
        unknown = sorted(set(flat) - set(SPEC_KEYS))
        if unknown:
            raise InvalidArgumentError(f"unknown recording option(s) {unknown}; known: {', '.join(SPEC_KEYS)}",
                                       source)
        spec = base or cls()
        if preset is not None:
            spec = preset_spec(str(preset))
        try:
            return spec.replace(**flat)
        except InvalidArgumentError as error:
            raise InvalidArgumentError(error.message, source) from None

    @classmethod
    def from_toml(cls, path: str | os.PathLike, *, base: RecordingSpec | None = None) -> RecordingSpec:
        """Read a spec from a TOML file (``[recording]`` / ``[responses]`` tables or top-level keys)."""
        from .._config import load_toml

        path = Path(path)
        return cls.from_mapping(load_toml(path), source=path, base=base)

    @classmethod
    def from_args(cls, args: Any) -> RecordingSpec:
        """Build a spec from parsed command-line arguments (attributes named as the keys, ``None`` = not given).

        The preset (``args.preset``) gives the starting values; every argument not ``None`` overrides it.
        """
        preset = getattr(args, "preset", None)
        spec = preset_spec(preset) if preset else cls()
        return spec.replace(**{key: getattr(args, key) for key in SPEC_KEYS if hasattr(args, key)})

    def to_dict(self) -> dict[str, Any]:
        """The spec as TOML-ready plain values (``None`` written as the string ``"none"`` or left out)."""
        out: dict[str, Any] = {}
        for key, value in dataclasses.asdict(self).items():
            if isinstance(value, tuple):
                value = list(value)
            if value is None:
                value = "none" if key == "max_silence_s" else None
            if value is not None:
                out[key] = value
        return out


#: Every option name (TOML key; the flag is ``--`` + the key with ``-`` for ``_``).
SPEC_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RecordingSpec))

#: Keys of a ``fit dopamine`` / ``reproduce dopamine`` ``--config`` file that are analysis options, not recording
#: options: :meth:`RecordingSpec.from_mapping` skips them, so one file describes the recording and the analysis.
OTHER_CONFIG_KEYS: tuple[str, ...] = (
    "out", "method", "bootstrap", "splits", "seed", "decode_code", "decode_support", "decode_asymmetry",
    "permutations", "format", "allow_external_links", "scheduler", "jobs", "quiet", "data", "no_controls")


def _pair(name: str, value: Any) -> tuple[float, float]:
    try:
        first, second = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name} must be two numbers [start, end] in ms, got {value!r}") from None
    if not (math.isfinite(first) and math.isfinite(second)):
        raise InvalidArgumentError(f"{name} must be finite, got {value!r}")
    return first, second


def _silence(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "off", "")):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"max_silence_s must be a number of seconds or 'none', got {value!r}") from None
    if not seconds > 0:
        raise InvalidArgumentError(f"max_silence_s must be positive or 'none', got {value!r}")
    return seconds


# ------------------------------------------------------------------------------------------------ presets
#: Response settings of each preset, with the line of the original each follows.
PRESETS: dict[str, dict[str, Any]] = {
    # The original MATLAB analysis of Dabney et al. 2020 (dongjae-kim/efficient-coding-dist-rl,
    # measured_neurons/dabney_matlab/).
    "dabney2020": {
        # each spike smoothed with (1 - e^-t) e^(-t/20), t = 0..50 ms, while counting (LoadVarMagData.m
        # lines 18-20, 63-68), then the baseline-subtracted PSTH convolved again, centred (line 82)
        "smoothing": "original",
        # no trial is dropped: every trial of types 1-14 is used (LoadVarMagData.m lines 41-76)
        "max_silence_s": None,
        # responseWindowUnexp = [200 600] after the reward (GEN_dabneys_fit.m line 11; cued trials'
        # [1700 2100] after odour onset = 200-600 ms after the reward delivered 1.5 s after the odour)
        "window_ms": (200.0, 600.0),
        # baselineWindow = [-1000 0] before odour onset = the trial's start (GEN_dabneys_fit.m line 10,
        # LoadVarMagData.m line 80)
        "baseline_window_ms": (-1000.0, 0.0),
        "align_column": "reward_time",
        "baseline_column": "start_time",
        "signal": "spikes",
        "zscore": False,
    },
}

#: Analysis settings of each preset (estimator and axis), with the line of the original each follows.
PRESET_ANALYSIS: dict[str, dict[str, Any]] = {
    "dabney2020": {
        # zero crossings by counting responses on the right side of each cut (EstimateZeroCrossings.m
        # line 27) on the utility axis, the population-mean response per size (GEN_dabneys_fit.m lines 47-48)
        "method": "counting",
        "split_axis": "utility",
        # uncued responses shifted by one constant to the cued grand mean (GEN_dabneys_fit.m lines 44-45)
        "align_trial_types": True,
    },
}


def preset_spec(name: str) -> RecordingSpec:
    """The :class:`RecordingSpec` of a preset (see :data:`PRESETS`)."""
    if name not in PRESETS:
        raise InvalidArgumentError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    values = dict(PRESETS[name])
    return RecordingSpec(**values)

