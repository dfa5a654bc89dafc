"""On-disk layout of a folder of preprocessed cases, compressed in patch-sized chunks, with names that cannot collide.

::

    {data identifier}/
      settings.json              the plan values the data was made under (plan_and_preprocess.data_settings)
      cases.json                 the case ids this folder must hold, written before any case
      cases/{case}/data.b2nd     float32 (C, *spatial), a blosc2 array
      cases/{case}/target.b2nd   label (uint8/int16) or regression targets (float32), if any
      cases/{case}/locations.npz sampled foreground voxel coordinates per class, for oversampling
      cases/{case}/properties.json  CaseProperties

The arrays are blosc2 NDArrays (the format nnU-Net v2 uses since 2.6), compressed (Zstandard, level 1, after a
byte shuffle, which groups the floats' exponent bytes: measured smaller than a bit shuffle on noisy MR; level 3
is 2 % smaller on CT at twice the time, level 8 3 % smaller than 3 at five times) in chunks of one channel and the
patch's extent, each split into blocks of at most BLOCK_ELEMENTS values. The network inputs keep
DATA_MANTISSA_BITS of float32's 23 mantissa bits (blosc2's TRUNC_PREC filter, towards zero): each value within
2**-16 of itself, relative, 32 times finer than the float16 that mixed-precision training rounds the inputs to on a
GPU, and a quarter less on disk (ISLES 4.7 -> 3.6 MB, CT 89 -> 65 MB). Targets are stored exactly. Reading a
patch decompresses only the blocks it overlaps: a training patch costs a few milliseconds, never the whole case,
and a case takes a fraction of its float32 size on disk (background and clipped intensities compress to almost
nothing). Data of the older layouts (.npy) is preprocessed again by ``autoseg preprocess``, and refused by
training with that command (settings.json's
``layout``).

Each case is a folder of fixed file names, so no legal case id can name another case's file (``X_target``
beside ``X`` was one). A case is written into a hidden temporary folder and renamed into place whole, so a case
folder exists only complete; a killed run leaves at most a hidden ``.{case}.*.tmp`` folder, removed by the next run.
Training takes exactly the cases of ``cases.json`` and refuses a folder that lacks some (``listed_cases``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import blosc2
import numpy as np

from autoseg.errors import AutosegError
from autoseg.io import atomic_write, give_default_permissions
from autoseg.io.base import disk_full
from autoseg.preprocessing.pipeline import CaseProperties

LAYOUT_VERSION = 3  # recorded in settings.json: data in an older layout is preprocessed again
CASES_FOLDER = "cases"
CASE_LIST = "cases.json"
DATA, TARGET, LOCATIONS, PROPERTIES = "data.b2nd", "target.b2nd", "locations.npz", "properties.json"
BLOCK_ELEMENTS = 2**16  # values per compressed block (256 KiB of float32): what a patch read decompresses at least


def chunking(spatial_shape: tuple[int, ...], patch_size: list[int], slice_axis: int | None = None) -> tuple[tuple, tuple]:
    """(chunks, blocks) for an array (C, *spatial_shape) read in patches of ``patch_size`` (2D patches of a 3D
    array along ``slice_axis``): a chunk is one channel over the patch's extent (a single slice along the sliced
    axis), cut to the array; its blocks halve the chunk's longest axis until they hold BLOCK_ELEMENTS or fewer."""
    patch = list(patch_size)
    if slice_axis is not None and len(patch) < len(spatial_shape):
        patch.insert(slice_axis, 1)
    chunk = [max(1, min(p, n)) for p, n in zip(patch, spatial_shape)]
    block = list(chunk)
    while int(np.prod(block)) > BLOCK_ELEMENTS:
        longest = int(np.argmax(block))
        block[longest] = (block[longest] + 1) // 2
    return (1, *chunk), (1, *block)


def case_folder(folder: Path, case_id: str) -> Path:
    return Path(folder) / CASES_FOLDER / case_id


def save_case(
    folder: Path,
    data: np.ndarray,
    target: np.ndarray | None,
    *,
    locations: dict[str, np.ndarray],
    properties: CaseProperties,
    patch_size: list[int],
    slice_axis: int | None = None,
) -> None:
    """Writes one case under ``folder/cases/`` in one rename (replacing an earlier version of it), its arrays
    chunked for patches of ``patch_size`` (see ``chunking``)."""
    cases = Path(folder) / CASES_FOLDER
    cases.mkdir(parents=True, exist_ok=True)
    final = cases / properties.case_id
    tmp = Path(tempfile.mkdtemp(prefix=f".{properties.case_id}.", suffix=".tmp", dir=cases))
    try:
        chunks, blocks = chunking(data.shape[1:], patch_size, slice_axis)
        _save_array(tmp / DATA, data, chunks, blocks, truncate=True)
        if target is not None:
            _save_array(tmp / TARGET, target, (len(target), *chunks[1:]), (1, *blocks[1:]))
        with open(tmp / LOCATIONS, "wb") as handle:  # voxel coordinates fit 16 bits below 65,536 voxels an axis
            small = max(data.shape[1:]) < 2**16
            np.savez_compressed(handle, **{key: value.astype(np.uint16 if small else np.int64) for key, value in locations.items()})
        (tmp / PROPERTIES).write_text(json.dumps(properties.to_json(), indent=2) + "\n")
        give_default_permissions(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException as error:
        full = disk_full(error, final)
        shutil.rmtree(tmp, ignore_errors=True)
        if full is not None:
            raise full from error
        raise


COMPRESSION = {"codec": blosc2.Codec.ZSTD, "clevel": 1, "filters": [blosc2.Filter.SHUFFLE], "filters_meta": [0], "nthreads": 1}
DATA_MANTISSA_BITS = 16  # of float32's 23, kept for the network inputs (see the module's text)
TRUNCATED = dict(COMPRESSION, filters=[blosc2.Filter.TRUNC_PREC, blosc2.Filter.SHUFFLE], filters_meta=[DATA_MANTISSA_BITS, 0])


def _save_array(path: Path, array: np.ndarray, chunks: tuple, blocks: tuple, *, truncate: bool = False) -> None:
    chunks = (min(chunks[0], array.shape[0]), *chunks[1:])
    blocks = (min(blocks[0], chunks[0]), *blocks[1:])
    cparams = TRUNCATED if truncate and array.dtype == np.float32 else COMPRESSION
    blosc2.asarray(np.ascontiguousarray(array), urlpath=str(path), mode="w", chunks=chunks, blocks=blocks, cparams=cparams)


def write_case_list(folder: Path, case_ids: list[str]) -> None:
    """Records the cases ``folder`` must hold (before any is written), and removes the cases it holds that are
    not among them (cases removed from the raw dataset)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    atomic_write(Path(folder) / CASE_LIST, lambda tmp: tmp.write_text(json.dumps({"cases": sorted(case_ids)}, indent=2) + "\n"))
    for case_id in set(finished_cases(folder)) - set(case_ids):
        shutil.rmtree(case_folder(folder, case_id))


def listed_cases(folder: Path, command: str) -> list[str]:
    """The case ids of a finished preprocessed folder; AutosegError naming the missing cases (and ``command``, the
    one that finishes it) when preprocessing did not finish: training on the cases present would train on a
    subset without a word, and the splits made from it would stay."""
    path = Path(folder) / CASE_LIST
    if not path.is_file():
        raise AutosegError(f"{folder} holds no preprocessed cases (no {CASE_LIST}); run `{command}` first.")
    expected = json.loads(path.read_text())["cases"]
    missing = sorted(set(expected) - set(finished_cases(folder)))
    if missing:
        listed = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise AutosegError(
            f"{folder}: preprocessing did not finish ({len(missing)} of {len(expected)} cases missing: {listed}); run `{command}` again."
        )
    return expected


def is_finished(folder: Path, case_id: str) -> bool:
    return (case_folder(folder, case_id) / PROPERTIES).is_file()


def finished_cases(folder: Path) -> list[str]:
    """The case ids whose folders are in place (complete: each was renamed into place whole)."""
    cases = Path(folder) / CASES_FOLDER
    if not cases.is_dir():
        return []
    return sorted(p.name for p in cases.iterdir() if not p.name.startswith(".") and (p / PROPERTIES).is_file())


def load_properties(folder: Path, case_id: str) -> CaseProperties:
    return CaseProperties.from_json(json.loads((case_folder(folder, case_id) / PROPERTIES).read_text()))


def load_arrays(folder: Path, case_id: str, lazy: bool = False) -> tuple:
    """Returns (data, target or None) as NumPy arrays; with ``lazy``, as blosc2 arrays that decompress only what
    is indexed (``array[:, z0:z1, ...]`` gives NumPy), for patch sampling."""
    where = case_folder(folder, case_id)
    # One decompression thread: patches are read by several augmentation workers at once, one case at a time here.
    arrays = [
        blosc2.open(str(where / name), mode="r", mmap_mode="r", dparams=blosc2.DParams(nthreads=1)) if (where / name).is_file() else None
        for name in (DATA, TARGET)
    ]
    return tuple(array if lazy or array is None else array[...] for array in arrays)


def load_case(folder: Path, case_id: str, lazy: bool = False) -> tuple:
    """Returns (data, target or None, properties); the arrays as ``load_arrays`` gives them."""
    return (*load_arrays(folder, case_id, lazy), load_properties(folder, case_id))


ANNOTATED_LOCATIONS = "annotated"  # locations of annotated voxels, stored where an ignore label leaves some out


def load_locations(folder: Path, case_id: str) -> dict[str, np.ndarray]:
    """{key: (N, ndim) voxel coordinates}: per class (label value, or a regression target's bright voxels), and
    ``ANNOTATED_LOCATIONS`` where the dataset has an ignore label."""
    with np.load(case_folder(folder, case_id) / LOCATIONS) as stored:
        return {key: stored[key].astype(np.int64) for key in stored.files}
