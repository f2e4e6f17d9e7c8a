"""Reading and writing files: NWB recordings (dopamine units, BCI two-photon ophys), MNIST, lab formats.

Readers take a path (or an open ``NWBFile`` / file-like object) and return labelled objects; every writer
takes the data first and the target path last, ``write_x(data, path)``, as ``DataFrame.to_csv(path)`` and
``Dataset.to_netcdf(path)`` read, and writes atomically. Result files (CSV, netCDF, text, figures) are
written by :mod:`neurorl.io.results`.

Every public name is importable from here (``from neurorl.io import ...``); the submodules are
imported on first use, so ``import neurorl.io`` stays cheap.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "adapters": ["from_pynapple", "from_spikeinterface", "trials_frame"],
        "bci_nwb": ["BCIRecording", "write_bci_session", "read_bci_session", "read_bci_folder",
            "list_bci_files", "ENSEMBLE_LABELS", "GROUND_TRUTH_MODULE", "GROUND_TRUTH_FIELDS"],
        "bci_suite2p": ["BCIRoiMap", "read_bci_rois", "write_bci_rois", "read_suite2p_session",
            "read_suite2p_folder", "is_suite2p_day", "suite2p_dff", "day_folders", "NEUROPIL_COEFFICIENT",
            "BASELINES"],
        "commonformat": ["COMMONFORMAT_REWARD_VOLUMES_UL", "CUED_REWARD_DELAY_S", "TRIAL_DURATION_S",
            "CommonFormatCell", "read_commonformat", "commonformat_to_nwb", "convert_commonformat_folder",
            "subject_from_name"],
        "inspect": ["describe_nwb"],
        "mnist": ["MNIST_MD5", "FASHION_MNIST_MD5", "DATASETS", "load_mnist", "load_fashion_mnist",
            "find_mnist_dir", "fetch_mnist", "download_mnist", "read_idx", "default_cache_dir"],
        "nwb": ["DopamineRecording", "new_nwbfile", "write_nwbfile", "open_nwb", "check_nwb_path",
            "write_dopamine", "write_dopamine_trace", "read_dopamine", "read_dopamine_folder",
            "iter_dopamine_folder", "dopamine_files", "nwb_objects", "source_name", "trials_from_table",
            "TRIAL_TYPES"],
        "outdir": ["output_folder", "Terminated", "MANIFEST_NAME", "read_manifest", "previous_outputs",
            "sha256_file", "input_files", "staging_of", "display_path", "foreign_files"],
        "results": ["write_text", "write_csv", "write_netcdf", "save_figure"],
        "spec": ["RecordingSpec", "PRESETS", "PRESET_ANALYSIS", "SPEC_KEYS", "OTHER_CONFIG_KEYS", "SIGNALS",
            "preset_spec"],
        "suite2p": ["write_suite2p_plane", "SUITE2P_FILES"],
    },
)
