"""A small hand-made BCI session (a :class:`BCIRecording` with ground truth added) for io/analysis tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurorl.io.bci_nwb import BCIRecording


def fake_session(n_frames: int = 600, n_p0: int = 6, n_bci: int = 4, baseline_frames: int = 100, day: int = 1,
                 seed: int = 0, rate: float = 15.46) -> BCIRecording:
    rng = np.random.default_rng(seed)
    n = n_p0 + n_bci
    labels = np.array(["P+"] * (n_bci // 2) + ["P-"] * (n_bci - n_bci // 2) + ["P0"] * n_p0)
    labels = labels[rng.permutation(n)]
    weight = np.where(labels == "P+", 1.0 / max(1, (labels == "P+").sum()),
                      np.where(labels == "P-", -1.0 / max(1, (labels == "P-").sum()), 0.0))
    soma = (0.1 * rng.standard_normal((n_frames, n))).astype(np.float32)
    dend = (0.8 * soma + 0.05 * rng.standard_normal((n_frames, n))).astype(np.float32)
    cursor = soma @ weight
    angle = np.clip(np.round(cursor * 90 / 15) * 15, 0, 90)
    starts = np.arange(baseline_frames / rate, n_frames / rate - 3.0, 3.0)
    hit = rng.random(starts.size) < 0.5
    ttt = np.where(hit, rng.uniform(0.1, 1.5, starts.size), np.nan)
    trials = pd.DataFrame({"start_time": starts, "stop_time": starts + 2.9, "target_hit": hit, "rewarded": hit,
                           "time_to_target": ttt, "threshold": np.full(starts.size, 0.3),
                           "reward_time": np.where(hit, starts + 0.5 + ttt + 1.0, np.nan)})
    gt = {"teaching_signal": rng.standard_normal((n_frames, n)).astype(np.float32), "rule": "vectorized",
          "seed": seed, "drive": rng.standard_normal(n)}
    return BCIRecording(day=day, frame_rate_hz=rate, soma_dff=soma, dendrite_dff=dend, ensemble=labels,
                        bci_weight=weight, cursor=cursor, grating_angle=angle, baseline_frames=baseline_frames,
                        trials=trials, ground_truth=gt)
