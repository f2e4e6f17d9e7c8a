"""Result writers (neurorl.io.results): data first, path second, atomic; the old path-first order still works."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from _bci_fake import fake_session

from neurorl.io import results
from neurorl.io.bci_nwb import read_bci_session, write_bci_session
from neurorl.io.nwb import read_dopamine, write_dopamine, write_dopamine_trace


def _trials(n: int = 6) -> pd.DataFrame:
    start = np.arange(n) * 5.0 + 1.0
    return pd.DataFrame({"start_time": start, "stop_time": start + 3.0, "reward_time": start + 1.5,
                         "reward_volume": np.linspace(0.1, 20.0, n)})


def test_writers_take_the_data_first(tmp_path: Path) -> None:
    table = pd.DataFrame({"cell": ["s/0", "s/1"], "reversal_point": [1.5, 4.0]})
    dataset = xr.Dataset({"reversal_point": ("cell", [1.5, 4.0], {"units": "µl"}), "ok": ("cell", [True, False])},
                         coords={"cell": ["s/0", "s/1"]}, attrs={"flag": True, "none": None})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new order never warns
        assert results.write_csv(table, tmp_path / "t.csv") == tmp_path / "t.csv"
        assert results.write_text("hello\n", tmp_path / "t.txt") == tmp_path / "t.txt"
        assert results.write_netcdf(dataset, tmp_path / "t.nc") == tmp_path / "t.nc"
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv"), table)
    assert (tmp_path / "t.txt").read_text() == "hello\n"
    back = xr.load_dataset(tmp_path / "t.nc")
    assert back["reversal_point"].attrs["units"] == "µl" and back.attrs["flag"] == 1
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    assert results.save_figure(fig, tmp_path / "f.png").stat().st_size > 0
    assert not plt.fignum_exists(fig.number)  # a saved pyplot figure is closed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "t.csv", "t.nc", "t.txt"]  # no debris


@pytest.mark.parametrize("writer, data", [
    ("write_csv", pd.DataFrame({"a": [1, 2]})),
    ("write_text", "text\n"),
    ("write_netcdf", xr.Dataset({"a": ("x", [1.0, 2.0])})),
])
def test_old_path_first_order_warns_and_writes_the_same(tmp_path: Path, writer, data) -> None:
    write = getattr(results, writer)
    new = write(data, tmp_path / f"new{writer}")
    with pytest.warns(DeprecationWarning, match=rf"{writer}\(path, \.\.\.\) is deprecated"):
        old = write(tmp_path / f"old{writer}", data)
    assert old == tmp_path / f"old{writer}"
    assert old.read_bytes() == new.read_bytes() or writer == "write_netcdf"
    if writer == "write_netcdf":
        xr.testing.assert_identical(xr.load_dataset(old), xr.load_dataset(new))


def test_old_imports_from_the_private_module_still_resolve() -> None:
    from neurorl.io import _atomic

    assert _atomic.write_csv is results.write_csv and _atomic.save_figure is results.save_figure
    with pytest.raises(AttributeError):
        _atomic.write_parquet  # noqa: B018


def test_nwb_writers_data_first_and_old_order(tmp_path: Path) -> None:
    spikes, trials = {3: np.array([0.5, 1.0, 7.0])}, _trials()
    new = write_dopamine(spikes, trials, tmp_path / "new.nwb")
    with pytest.warns(DeprecationWarning, match="write_dopamine"):
        old = write_dopamine(tmp_path / "old.nwb", spikes, trials)
    with pytest.warns(DeprecationWarning):  # old order with the trials as a keyword: the path still lands right
        kw = write_dopamine(str(tmp_path / "kw.nwb"), spikes, trials=trials)
    for path in (new, old, kw):
        units = read_dopamine(path).units
        assert list(units.index) == [3]
        np.testing.assert_array_equal(units.loc[3, "spike_times"], spikes[3])
    with pytest.warns(DeprecationWarning, match="write_dopamine_trace"):
        write_dopamine_trace(tmp_path / "trace.nwb", np.zeros((40, 2)), trials, rate_hz=10.0)
    session = fake_session(n_frames=200, n_p0=2, n_bci=2, baseline_frames=40)
    a = read_bci_session(write_bci_session(session, tmp_path / "day01.nwb"))
    with pytest.warns(DeprecationWarning, match="write_bci_session"):
        b = read_bci_session(write_bci_session(tmp_path / "b" / "day01.nwb", session))
    np.testing.assert_array_equal(a.soma_dff, b.soma_dff)
