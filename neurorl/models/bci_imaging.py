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
:math:`\sigma_n` per frame. This is a placeholder physiology (no bleaching, motion or shot noise); the ΔF/F the
simulator's analyses use is unchanged by it.

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
           "suite2p_plane", "movie"]

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

    def __post_init__(self) -> None:
        if int(self.fov_px) < 16 or not self.um_per_px > 0:
            raise InvalidArgumentError("fov_px must be at least 16 and um_per_px positive")
        for name in ("soma_radius_px", "dendrite_radius_px", "f0_median", "neuropil_tau_s", "indicator_tau_s"):
            if not getattr(self, name) > 0:
                raise InvalidArgumentError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.neuropil_coefficient <= 1:
            raise InvalidArgumentError(f"neuropil_coefficient must be in [0, 1], got {self.neuropil_coefficient}")

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


def raw_fluorescence(dff: np.ndarray, frame_rate_hz: float, params: ImagingParams | None = None,
                     seed: int | np.random.Generator | None = None, *, f0: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    f = f0[:, None] * (np.float32(1.0) + d.T) + np.float32(p.neuropil_coefficient) * fneu
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
                  plane: int = 0, depth_um: float | None = None, f0: np.ndarray | None = None) -> dict:
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
    f, fneu, f0 = raw_fluorescence(dff, frame_rate_hz, p, seed, f0=f0)
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
        "neurorl_note": "simulated by neurorl; F = F0 (1 + dF/F) + neucoeff x Fneu; spks: AR(1) inverse filter",
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
