r"""Raw two-photon fluorescence of the simulated BCI neurons: ROI footprints, F and neuropil (Fneu), suite2p-style.

The BCI simulator (:mod:`neurorl.models.bci_learning`) produces each ROI's ΔF/F. A lab's pipeline starts one
step earlier, from suite2p's raw fluorescence ``F`` and neuropil ``Fneu``; this module makes them so that the
usual correction recovers the simulated trace:

.. math:: F_i(t) = F_{0,i}\,(1 + \Delta F/F_i(t)) + c\, F^{neu}_i(t)

with :math:`c` = ``neuropil_coefficient`` (0.7, suite2p's default ``neucoeff``), so
:math:`F - 0.7 F^{neu} = F_0 (1 + \Delta F/F)`. The neuropil of ROI :math:`i` is a slowly varying background
shared by nearby tissue: :math:`F^{neu}_i(t) = N_{0,i} (1 + g\, \bar a(t) + \sigma_n \epsilon_i(t))` with
:math:`\bar a` the population's mean ΔF/F low-pass filtered (``neuropil_tau_s``), :math:`g`
``neuropil_gain``, :math:`N_{0,i} =` ``neuropil_fraction`` :math:`\times F_{0,i}` and independent noise
:math:`\sigma_n` per frame.

Imaging realism (``ImagingParams.realism``, on by default; each part also off with its parameter at 0), applied
in this order to the model's ΔF/F (whose decay is already the indicator's, ``BCILearnerParams.calcium_tau_s``):

1. **rise**: first-order low-pass with ``rise_tau_s`` (GCaMP-like ~50 ms rise; the model's calcium rises within
   one frame);
2. **saturation** (Hill-type): :math:`x \mapsto x / (1 + (x/x_{max})^h)^{1/h}` for :math:`x > 0`, linear for
   :math:`x \ll x_{max}` = ``saturation_dff`` and tending to it, :math:`h` = ``saturation_exponent``;
3. **bleaching**: ``F``, ``Fneu`` scale by :math:`e^{-t/\tau_b}` over the day's recording (each day starts
   bright again), :math:`\tau_b` from ``bleach_per_hour`` (fraction lost per hour);
4. **motion artefacts** (:func:`motion_artefacts`): brief drops of ``motion_drop`` of the fluorescence in every
   ROI at once (``motion_frames`` frames, ``motion_events_per_min`` per minute; the neuropil drops by half as
   much), the same events in both planes of a day;
5. **shot noise**: Poisson-like, Gaussian with variance ``F / photons_per_unit`` (F in photon-scaled units).

The ΔF/F a lab computes from ``F - 0.7 Fneu`` (:func:`neurorl.io.bci_suite2p.suite2p_dff`) then sees all of
them; the NWB files keep the model's ΔF/F.

ROI footprints are disks with Gaussian weights (``lam``) at random, non-overlapping centres in a
``fov_px x fov_px`` field of view; they are the pixel masks of the NWB ``PlaneSegmentation`` too, so the two
outputs agree.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.signal import lfilter

from ..errors import InvalidArgumentError

__all__ = ["ImagingParams", "IMAGING_SOURCES", "roi_footprints", "raw_fluorescence", "deconvolve_ar1",
           "suite2p_plane", "movie", "motion_artefacts"]

#: Where each default of :class:`ImagingParams` comes from.
IMAGING_SOURCES: dict[str, str] = {
    "fov_px": "assumed: 512 x 512 pixels, a common resonant-scanner frame",
    "um_per_px": "assumed: ~1 µm per pixel (a ~500 µm field of view)",
    "soma_radius_px": "assumed: layer-5 somata ~12-15 µm across",
    "dendrite_radius_px": "assumed: distal apical dendrite cross-sections of a few µm",
    "soma_depth_um": "assumed: layer 5 of retrosplenial cortex, ~500 µm below the pia",
    "dendrite_depth_um": "assumed: distal tufts in layer 1, ~50 µm below the pia",
    "f0_median": "assumed: resting fluorescence in the hundreds of counts (arbitrary units)",
    "f0_log_sd": "assumed: ROIs differ in brightness (log-normal spread)",
    "neuropil_coefficient": "suite2p default neucoeff = 0.7",
    "neuropil_fraction": "assumed: neuropil baseline half of the ROI's resting fluorescence",
    "neuropil_gain": "assumed: neuropil follows the population's mean ΔF/F with gain 0.3",
    "neuropil_tau_s": "assumed: neuropil varies on a ~1 s time scale",
    "neuropil_noise_sd": "assumed: 2 % noise per frame in the neuropil estimate",
    "indicator_tau_s": "the simulator's calcium decay (GCaMP-like, BCILearnerParams.calcium_tau_s)",
    "realism": "assumed: rise, saturation, bleaching, motion and shot noise on (false: F = F0 (1 + dF/F) + c Fneu)",
    "rise_tau_s": "assumed: ~50 ms GCaMP-like rise (GCaMP6f/jGCaMP7f rise to half peak in tens of ms, Chen et al. "
                  "2013 Nature 499:295; Dana et al. 2019 Nat Methods 16:649); 0 = off",
    "saturation_dff": "assumed: ΔF/F saturates at a few times F0 (GCaMP6 in vivo bursts reach ΔF/F ~ 1-5, "
                      "Chen et al. 2013); 0 = off",
    "saturation_exponent": "assumed: sharpness of the saturation, of the order of GCaMP6's Hill coefficient "
                           "(~2-3, Chen et al. 2013)",
    "bleach_per_hour": "assumed: 10 % of the fluorescence lost per hour of imaging, recovered by the next day; "
                       "0 = off",
    "motion_events_per_min": "assumed: about one brief motion artefact (licking, grooming) per minute; 0 = off",
    "motion_frames": "assumed: artefacts last a few frames (~200 ms at 15.5 Hz)",
    "motion_drop": "assumed: an artefact takes ROIs partly out of focus, 15 % of their fluorescence",
    "photons_per_unit": "assumed: 2 photons per fluorescence unit (shot-noise sd ~4 % of a 400-unit F0 per "
                        "frame); 0 = off",
}


@dataclass(frozen=True)
class ImagingParams:
    """Settings of the raw fluorescence and ROI footprints (sources: :data:`IMAGING_SOURCES`).

    Parameters
    ----------
    fov_px, um_per_px
        Field of view (pixels, square) and pixel size (µm).
    soma_radius_px, dendrite_radius_px
        ROI radii (pixels).
    soma_depth_um, dendrite_depth_um
        Depth of the two imaging planes below the pia (µm).
    f0_median, f0_log_sd
        Resting fluorescence of the ROIs (arbitrary units): log-normal with this median and log-sd.
    neuropil_coefficient, neuropil_fraction, neuropil_gain, neuropil_tau_s, neuropil_noise_sd
        ``F = F0 (1 + ΔF/F) + neuropil_coefficient x Fneu``; neuropil baseline as a fraction of F0, its gain on
        the population's mean ΔF/F, its time constant (s) and its per-frame noise (fraction).
    indicator_tau_s
        Decay time constant (s) used by the simple deconvolution written as ``spks``.
    realism
        Apply the imaging realism below (see the module docstring); ``False`` turns all of it off.
    rise_tau_s
        Indicator rise time constant (s), first-order; 0 = off.
    saturation_dff, saturation_exponent
        Hill-type saturation: ΔF/F tends to ``saturation_dff`` (0 = off) with sharpness ``saturation_exponent``.
    bleach_per_hour
        Fraction of the fluorescence lost per hour of imaging (exponential; each day starts anew); 0 = off.
    motion_events_per_min, motion_frames, motion_drop
        Motion artefacts: rate (per minute; 0 = off), duration (frames) and depth (fraction of F lost).
    photons_per_unit
        Shot noise: Gaussian with variance ``F / photons_per_unit`` (fluorescence units²); 0 = off.
    """

    fov_px: int = 512
    um_per_px: float = 1.0
    soma_radius_px: float = 6.0
    dendrite_radius_px: float = 2.5
    soma_depth_um: float = 500.0
    dendrite_depth_um: float = 50.0
    f0_median: float = 400.0
    f0_log_sd: float = 0.3
    neuropil_coefficient: float = 0.7
    neuropil_fraction: float = 0.5
    neuropil_gain: float = 0.3
    neuropil_tau_s: float = 1.0
    neuropil_noise_sd: float = 0.02
    indicator_tau_s: float = 0.5
    realism: bool = True
    rise_tau_s: float = 0.05
    saturation_dff: float = 4.0
    saturation_exponent: float = 2.5
    bleach_per_hour: float = 0.1
    motion_events_per_min: float = 1.0
    motion_frames: int = 3
    motion_drop: float = 0.15
    photons_per_unit: float = 2.0

    def __post_init__(self) -> None:
        if int(self.fov_px) < 16 or not self.um_per_px > 0:
            raise InvalidArgumentError("fov_px must be at least 16 and um_per_px positive")
        for name in ("soma_radius_px", "dendrite_radius_px", "f0_median", "neuropil_tau_s", "indicator_tau_s"):
            if not getattr(self, name) > 0:
                raise InvalidArgumentError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.neuropil_coefficient <= 1:
            raise InvalidArgumentError(f"neuropil_coefficient must be in [0, 1], got {self.neuropil_coefficient}")
        for name in ("rise_tau_s", "saturation_dff", "motion_events_per_min", "photons_per_unit"):
            if not getattr(self, name) >= 0:
                raise InvalidArgumentError(f"{name} must be >= 0 (0 = off), got {getattr(self, name)}")
        if not 0 <= self.bleach_per_hour < 1 or not 0 <= self.motion_drop < 1:
            raise InvalidArgumentError("bleach_per_hour and motion_drop must be fractions in [0, 1)")
        if int(self.motion_frames) < 1 or not self.saturation_exponent > 0:
            raise InvalidArgumentError("motion_frames must be at least 1 and saturation_exponent positive")

    def without_realism(self) -> ImagingParams:
        """The same settings with the imaging realism off (``F = F0 (1 + ΔF/F) + c Fneu`` exactly)."""
        from dataclasses import replace

        return replace(self, realism=False)

    def as_dict(self) -> dict:
        """Return the settings as a plain dict."""
        return asdict(self)


def roi_footprints(n: int, radius_px: float, fov_px: int = 512,
                   seed: int | np.random.Generator | None = None) -> list[dict]:
    """Disk-shaped ROI footprints with Gaussian weights at random, non-overlapping positions.

    Returns
    -------
    list of dict
        One suite2p-style ``stat`` entry per ROI: ``ypix``, ``xpix`` (int32), ``lam`` (float32, weights summing
        to 1), ``med`` ([y, x]), ``npix``, ``radius``, ``aspect_ratio`` (1), ``compact`` (1), ``overlap``
        (all False), ``soma_crop`` (all True), ``npix_soma``, ``footprint``.
    """
    rng = np.random.default_rng(seed)
    r = float(radius_px)
    half = int(math.ceil(r))
    dy, dx = np.mgrid[-half:half + 1, -half:half + 1]
    inside = dy ** 2 + dx ** 2 <= r ** 2
    oy, ox = dy[inside], dx[inside]
    weights = np.exp(-(oy ** 2 + ox ** 2) / (2 * (r / 2) ** 2)).astype(np.float32)
    weights /= weights.sum()
    taken = np.zeros((fov_px, fov_px), dtype=bool)
    stats = []
    lo, hi = half + 1, fov_px - half - 1
    if hi <= lo:
        raise InvalidArgumentError(f"ROIs of radius {radius_px} px do not fit a {fov_px}-px field of view")
    for _ in range(int(n)):
        for _attempt in range(200):
            cy, cx = (int(v) for v in rng.integers(lo, hi, size=2))
            if not taken[cy + oy, cx + ox].any():
                break
        # after 200 tries the field is crowded: accept an overlapping position (flagged in `overlap`)
        overlap = taken[cy + oy, cx + ox].copy()
        taken[cy + oy, cx + ox] = True
        stats.append({
            "ypix": (cy + oy).astype(np.int32), "xpix": (cx + ox).astype(np.int32), "lam": weights.copy(),
            "med": [cy, cx], "npix": int(oy.size), "npix_soma": int(oy.size), "radius": r,
            "aspect_ratio": 1.0, "compact": 1.0, "footprint": 1.0, "overlap": overlap,
            "soma_crop": np.ones(oy.size, dtype=bool),
        })
    mean_npix = np.mean([s["npix"] for s in stats]) if stats else 1.0
    for s in stats:
        s["npix_norm"] = s["npix"] / mean_npix
    return stats


def motion_artefacts(n_frames: int, frame_rate_hz: float, params: ImagingParams | None = None,
                     seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Multiplicative factor per frame of brief motion artefacts (1 = none; ``1 - motion_drop`` during one).

    Events start as a Poisson process of ``motion_events_per_min`` per minute and last ``motion_frames`` frames;
    all ROIs of a day share them (pass the same trace to both planes). All ones when the realism or the rate is off.
    """
    p = params or ImagingParams()
    factor = np.ones(int(n_frames), dtype=np.float32)
    if not p.realism or p.motion_events_per_min <= 0 or n_frames == 0:
        return factor
    rng = np.random.default_rng(seed)
    starts = np.flatnonzero(rng.random(int(n_frames)) < p.motion_events_per_min / 60.0 / frame_rate_hz)
    for a in starts:
        factor[a:a + int(p.motion_frames)] = np.float32(1.0 - p.motion_drop)
    return factor


def _kinetics(d: np.ndarray, frame_rate_hz: float, p: ImagingParams) -> np.ndarray:
    """Rise filter then Hill-type saturation of a ``(frames, rois)`` ΔF/F (see the module docstring)."""
    if p.rise_tau_s > 0 and d.shape[0]:
        rho = math.exp(-1.0 / (p.rise_tau_s * frame_rate_hz))
        d = lfilter([1 - rho], [1, -rho], d, axis=0).astype(np.float32)
    if p.saturation_dff > 0:
        h = float(p.saturation_exponent)
        pos = np.maximum(d, 0)
        d = np.where(d > 0, d / (1.0 + (pos / np.float32(p.saturation_dff)) ** h) ** (1.0 / h), d).astype(np.float32)
    return d


def raw_fluorescence(dff: np.ndarray, frame_rate_hz: float, params: ImagingParams | None = None,
                     seed: int | np.random.Generator | None = None, *, f0: np.ndarray | None = None,
                     motion: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """suite2p-style ``F`` and ``Fneu`` from ΔF/F (see the module docstring for the model).

    Parameters
    ----------
    dff
        ``(frames, rois)`` ΔF/F.
    frame_rate_hz
        Imaging rate (Hz).
    params, seed
        Imaging settings; random seed or generator.
    f0
        ``(rois,)`` resting fluorescence (drawn log-normal when None; pass the same values every day for the
        same ROIs).
    motion
        ``(frames,)`` motion factor (:func:`motion_artefacts`; drawn from ``seed`` when None and the realism is
        on). Pass the same trace to both planes of a day.

    Returns
    -------
    F, Fneu : numpy.ndarray
        ``(rois, frames)`` float32 (suite2p's orientation).
    f0 : numpy.ndarray
        ``(rois,)`` resting fluorescence of each ROI.
    """
    p = params or ImagingParams()
    rng = np.random.default_rng(seed)
    d = np.asarray(dff, dtype=np.float32)
    if d.ndim != 2:
        raise InvalidArgumentError(f"dff must be (frames, rois), got shape {d.shape}")
    n_frames, n = d.shape
    if f0 is None:
        f0 = p.f0_median * np.exp(p.f0_log_sd * rng.standard_normal(n))
    f0 = np.asarray(f0, dtype=np.float32)
    if f0.shape != (n,):
        raise InvalidArgumentError(f"f0 must hold one value per ROI ({n}), got shape {f0.shape}")
    rho = math.exp(-1.0 / (p.neuropil_tau_s * frame_rate_hz))
    population = d.mean(axis=1) if n else np.zeros(n_frames, dtype=np.float32)
    smooth = lfilter([1 - rho], [1, -rho], population).astype(np.float32)
    neu0 = np.float32(p.neuropil_fraction) * f0
    noise = rng.standard_normal((n, n_frames), dtype=np.float32) * np.float32(p.neuropil_noise_sd)
    fneu = neu0[:, None] * (np.float32(1.0) + np.float32(p.neuropil_gain) * smooth[None, :] + noise)
    if not p.realism:
        f = f0[:, None] * (np.float32(1.0) + d.T) + np.float32(p.neuropil_coefficient) * fneu
        return f.astype(np.float32, copy=False), fneu.astype(np.float32, copy=False), f0
    d = _kinetics(d, frame_rate_hz, p)
    if motion is None:
        motion = motion_artefacts(n_frames, frame_rate_hz, p, rng)
    motion = np.asarray(motion, dtype=np.float32)
    if motion.shape != (n_frames,):
        raise InvalidArgumentError(f"motion must hold one value per frame ({n_frames}), got shape {motion.shape}")
    t_h = np.arange(n_frames, dtype=np.float64) / frame_rate_hz / 3600.0
    bleach = (np.power(1.0 - p.bleach_per_hour, t_h) if p.bleach_per_hour > 0 else np.ones(n_frames)
              ).astype(np.float32)
    fneu = fneu * (bleach * (np.float32(1.0) - (np.float32(1.0) - motion) / 2))[None, :]
    f = (f0[:, None] * (np.float32(1.0) + d.T)) * (bleach * motion)[None, :] \
        + np.float32(p.neuropil_coefficient) * fneu
    if p.photons_per_unit > 0:
        shot = rng.standard_normal(f.shape, dtype=np.float32)
        shot *= np.sqrt(np.maximum(f, 0) / np.float32(p.photons_per_unit))
        f += shot
    return f.astype(np.float32, copy=False), fneu.astype(np.float32, copy=False), f0


def deconvolve_ar1(f_corrected: np.ndarray, frame_rate_hz: float, tau_s: float = 0.5) -> np.ndarray:
    """Deconvolve simply, for ``spks``: ``max(0, x(t) - exp(-dt/tau) x(t-1))`` of the baseline-free trace.

    Not suite2p's OASIS (no sparsity penalty); enough for files a pipeline can load. ``f_corrected`` is
    ``(rois, frames)``; the baseline is each ROI's 8th percentile.
    """
    x = np.asarray(f_corrected, dtype=np.float32)
    x = x - np.percentile(x, 8, axis=1, keepdims=True).astype(np.float32)
    g = np.float32(math.exp(-1.0 / (tau_s * frame_rate_hz)))
    out = np.empty_like(x)
    out[:, 0] = x[:, 0]
    out[:, 1:] = x[:, 1:] - g * x[:, :-1]
    return np.maximum(out, 0, out=out)


def suite2p_plane(dff: np.ndarray, stats: list[dict], frame_rate_hz: float, *, is_cell: np.ndarray | None = None,
                  params: ImagingParams | None = None, seed: int | np.random.Generator | None = None,
                  plane: int = 0, depth_um: float | None = None, f0: np.ndarray | None = None,
                  motion: np.ndarray | None = None) -> dict:
    """Make the arrays suite2p saves for one plane: ``F``, ``Fneu``, ``spks``, ``iscell``, ``stat``, ``ops``.

    ``ops`` holds suite2p's documented keys that describe the recording (``Ly``, ``Lx``, ``nframes``, ``fs``,
    ``tau``, ``neucoeff``, ``nplanes``, ``nchannels``, ``functional_chan``, ``meanImg``, ``meanImgE``,
    ``refImg``, ``max_proj``, ``Vcorr``, ``yrange``, ``xrange``, ``yoff``, ``xoff``, ``corrXY``,
    ``filelist``, ``date_proc``) and the simulation's own under ``neurorl_*``. ``stat`` carries ``std`` and
    ``skew`` of the neuropil-corrected trace, as suite2p computes them.
    """
    from scipy.stats import skew

    p = params or ImagingParams()
    n = len(stats)
    f, fneu, f0 = raw_fluorescence(dff, frame_rate_hz, p, seed, f0=f0, motion=motion)
    corrected = f - np.float32(p.neuropil_coefficient) * fneu
    spks = deconvolve_ar1(corrected, frame_rate_hz, p.indicator_tau_s)
    cells = np.ones(n, dtype=bool) if is_cell is None else np.asarray(is_cell, dtype=bool)
    iscell = np.column_stack([cells.astype(np.float64), np.where(cells, 0.95, 0.05)])
    stat = np.empty(n, dtype=object)
    std = corrected.std(axis=1)
    sk = skew(corrected, axis=1) if corrected.shape[1] > 2 else np.zeros(n)
    mean_img = np.zeros((p.fov_px, p.fov_px), dtype=np.float32)
    for i, s in enumerate(stats):
        entry = dict(s)
        entry["std"] = float(std[i])
        entry["skew"] = float(sk[i])
        entry["iplane"] = int(plane)
        stat[i] = entry
        mean_img[s["ypix"], s["xpix"]] += s["lam"] * f0[i] * s["npix"]
    n_frames = int(f.shape[1])
    ops = {
        "Ly": int(p.fov_px), "Lx": int(p.fov_px), "nframes": n_frames, "fs": float(frame_rate_hz),
        "tau": float(p.indicator_tau_s), "neucoeff": float(p.neuropil_coefficient), "nplanes": 1,
        "nchannels": 1, "functional_chan": 1, "meanImg": mean_img, "meanImgE": mean_img.copy(),
        "refImg": mean_img.copy(), "max_proj": mean_img.copy(), "Vcorr": np.zeros_like(mean_img),
        "yrange": [0, int(p.fov_px)], "xrange": [0, int(p.fov_px)],
        "yoff": np.zeros(n_frames, dtype=np.float32), "xoff": np.zeros(n_frames, dtype=np.float32),
        "corrXY": np.ones(n_frames, dtype=np.float32), "filelist": [], "date_proc": "simulated",
        "neurorl_depth_um": float(depth_um) if depth_um is not None else float("nan"),
        "neurorl_um_per_px": float(p.um_per_px),
        "neurorl_note": ("simulated by neurorl; F = F0 (1 + dF/F) + neucoeff x Fneu"
                         + ("; with indicator rise, saturation, bleaching, motion artefacts and shot noise"
                            if p.realism else "") + "; spks: AR(1) inverse filter"),
    }
    return {"F": f, "Fneu": fneu, "spks": spks, "iscell": iscell, "stat": stat, "ops": ops}


def movie(F: np.ndarray, stats: list[dict], *, fov_px: int = 512, movie_px: int = 128,
          background: float = 100.0, photons_per_unit: float = 0.5,
          seed: int | np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Render a raw-looking movie of one plane: the ROIs' fluorescence painted through their footprints, binned.

    Each frame is a dark level ``background`` plus, for each ROI, its raw
    fluorescence ``F`` spread over its footprint's pixels (weights ``lam``), binned ``fov_px / movie_px`` times
    in each direction, with shot noise (``photons_per_unit`` photons per fluorescence unit, assumed; the
    Gaussian approximation of the Poisson counts).

    Parameters
    ----------
    F
        ``(rois, frames)`` raw fluorescence (from :func:`raw_fluorescence`; the neuropil term included).
    stats
        The ROIs' footprints (:func:`roi_footprints`).
    fov_px, movie_px
        Field of view of the footprints and of the movie (pixels; ``fov_px`` a multiple of ``movie_px``).
    background, photons_per_unit, seed
        Dark level (counts), shot-noise scale, random seed or generator.

    Returns
    -------
    frames : numpy.ndarray
        ``(frames, movie_px, movie_px)`` uint16.
    masks : numpy.ndarray
        ``(rois, movie_px, movie_px)`` float32 image masks (the binned footprints, each summing to 1).
    """
    if fov_px % movie_px:
        raise InvalidArgumentError(f"fov_px ({fov_px}) must be a multiple of movie_px ({movie_px})")
    rng = np.random.default_rng(seed)
    b = fov_px // movie_px
    f = np.asarray(F, dtype=np.float32)
    n, n_frames = f.shape
    masks = np.zeros((n, movie_px, movie_px), dtype=np.float32)
    for i, s in enumerate(stats):
        np.add.at(masks[i], (np.asarray(s["ypix"]) // b, np.asarray(s["xpix"]) // b), np.asarray(s["lam"]))
    # each ROI's fluorescence is its mean pixel value times its area: spread the ROI total over its pixels
    area = np.array([s["npix"] for s in stats], dtype=np.float32) / (b * b)
    from scipy.sparse import csr_matrix

    flat = csr_matrix(masks.reshape(n, -1) * area[:, None])  # a few pixels per ROI
    image = np.asarray((flat.T @ f), dtype=np.float32)  # (pixels, frames)
    image += np.float32(background)
    # shot noise: Poisson photon counts, in their Gaussian approximation (>= ~50 photons per pixel and frame)
    np.maximum(image, 0, out=image)
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    noise *= np.sqrt(image / np.float32(photons_per_unit))
    image += noise
    frames = np.clip(np.rint(image.T), 0, 65535).astype(np.uint16).reshape(n_frames, movie_px, movie_px)
    return frames, masks
