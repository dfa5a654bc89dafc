"""Reader/writer interface and the registry that picks one by file ending."""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable

from autoseg.errors import AutosegError
from autoseg.io.geometry import ImageData
from autoseg.plugins import load_plugins
from autoseg.registry import Registry


class ImageIO(ABC):
    """Reads and writes one family of file formats.

    ``read`` returns an :class:`ImageData` in the convention of
    :mod:`autoseg.io.geometry`; ``write`` restores the file's geometry exactly.
    ``write`` may assume its path ends with one of ``endings`` and need not be
    atomic: :func:`write_image` takes care of that.
    """

    name: str = ""
    endings: tuple[str, ...] = ()
    writable_endings: tuple[str, ...] | None = None  # None: all of ``endings``

    @abstractmethod
    def read(self, path: Path) -> ImageData: ...

    @abstractmethod
    def write(self, image: ImageData, path: Path) -> None: ...


IMAGE_IO: Registry[ImageIO] = Registry("image backend")
# The reader used for an ending when no backend is named: the first registered for it.
_DEFAULT_FOR_ENDING: dict[str, str] = {}
# Folders that stand for one image (a DICOM series): (recognises the folder, reads it).
_FOLDER_READERS: list[tuple[Callable[[Path], bool], Callable[[Path], ImageData]]] = []


def register_folder_reader(recognises: Callable[[Path], bool], read: Callable[[Path], ImageData]) -> None:
    """Makes folders that ``recognises`` accepts readable as one image (autoseg/io/dicom.py registers DICOM series)."""
    _FOLDER_READERS.append((recognises, read))


def folder_reader(path: Path) -> Callable[[Path], ImageData] | None:
    """The reader of ``path`` when it is a folder standing for one image, else None."""
    if not path.is_dir():
        return None
    return next((read for recognises, read in _FOLDER_READERS if recognises(path)), None)


def register_io(cls: type[ImageIO]) -> type[ImageIO]:
    """Class decorator that makes a reader/writer available by name (``backend``) and, for the endings no
    earlier reader took, by ending; a name registered twice is refused (as in every registry). A plug-in
    (autoseg/plugins.py) registers its own format this way."""
    IMAGE_IO.add(cls.name, cls())
    for ending in cls.endings:
        _DEFAULT_FOR_ENDING.setdefault(ending.lower(), cls.name)
    return cls


def supported_endings() -> list[str]:
    """Every ending some reader takes, longest first (so ``.nii.gz`` is tried before ``.gz``); plug-ins loaded."""
    load_plugins()
    return sorted(_DEFAULT_FOR_ENDING, key=len, reverse=True)


def file_ending(path: str | Path) -> str:
    """Returns the registered ending of ``path`` (longest match, lower case, e.g. ``.nii.gz``)."""
    name = Path(path).name.lower()
    for ending in supported_endings():
        if name.endswith(ending):
            return ending
    raise AutosegError(f"{path}: unsupported file type. Supported endings: {', '.join(sorted(supported_endings()))}.")


def split_ending(path: Path) -> tuple[str, str] | None:
    """Returns (name without ending, ending as spelled), or None for unsupported files."""
    lowered = path.name.lower()
    for ending in supported_endings():
        if lowered.endswith(ending):
            return path.name[: -len(ending)], path.name[-len(ending) :]
    return None


def get_io(path: str | Path, backend: str | None = None) -> ImageIO:
    """Returns the reader/writer for ``path``: the named ``backend`` or the default for its ending."""
    ending = file_ending(path)
    if backend is None:
        return IMAGE_IO.get(_DEFAULT_FOR_ENDING[ending])
    io = IMAGE_IO.get(backend)
    if ending not in io.endings:
        raise AutosegError(f"{path}: backend {backend!r} does not handle {ending} files; it handles {', '.join(io.endings)}.")
    return io


def read_image(path: str | Path, backend: str | None = None) -> ImageData:
    """Reads an image file (or a folder standing for one image: a DICOM series) into ``(C, *spatial)`` +
    geometry. Raises AutosegError naming the file on failure."""
    path = Path(path)
    read_folder = folder_reader(path)
    if read_folder is not None:
        return _refuse_invalid_geometry(read_folder(path), path)
    io = get_io(path, backend)
    if not path.is_file():
        raise AutosegError(f"{path}: no such file.")
    try:
        image = io.read(path)
    except AutosegError:
        raise
    except Exception as error:  # the libraries raise many types for corrupt files
        raise AutosegError(f"{path}: cannot be read as {file_ending(path)} ({error}). Is the file complete and uncorrupted?") from error
    return _refuse_invalid_geometry(image, path)


class InvalidGeometry(AutosegError):
    """An image whose header gives no usable grid (``Geometry.problems``); ``problem`` says what, without the path."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}.")
        self.problem = problem


def _refuse_invalid_geometry(image: ImageData, path: Path) -> ImageData:
    # Checked where every image is read: a zero spacing would collapse the case when resampled, a singular
    # direction gives voxels no position, and neither can be written back.
    problems = image.geometry.problems()
    if problems:
        raise InvalidGeometry(path, "; ".join(problems))
    return image


def write_image(image: ImageData, path: str | Path, backend: str | None = None) -> None:
    """Writes ``image`` to ``path`` atomically: a temporary file in the same folder, then a rename."""
    path = Path(path)
    io = get_io(path, backend)
    ending = file_ending(path)
    if io.writable_endings is not None and ending not in io.writable_endings:
        raise AutosegError(f"{path}: {ending} is a lossy or read-only format here; write one of {', '.join(io.writable_endings)}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: io.write(image, tmp), suffix=ending)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once, at import: os.umask can only be read by setting it


def give_default_permissions(path: Path) -> None:
    """Gives ``path`` (made private to its owner by mkstemp or mkdtemp) the permissions a plain ``open`` or
    ``mkdir`` would have given it."""
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~_UMASK)


def remove_leftovers(folder: Path, names: set[str] | None = None) -> list[Path]:
    """Removes what writes killed mid-way left in ``folder`` (the hidden ``.NAME.XXXX.tmp`` files of
    ``atomic_write``, and folders named so); returns them. Only for a folder no other process writes in now, or,
    with ``names``, only the leftovers of those NAMEs (the ones no other process writes)."""
    removed = sorted(Path(folder).glob(".*.tmp*")) if Path(folder).is_dir() else []
    if names is not None:
        leftovers = ((path, re.fullmatch(r"\.(.+)\.[^.]+\.tmp.*", path.name)) for path in removed)
        removed = [path for path, match in leftovers if match is not None and match[1] in names]
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed


def atomic_write(path: Path, write: Callable[[Path], None], suffix: str = "") -> None:
    """Calls ``write(tmp)`` for a temporary path beside ``path``, then renames it into place, with the
    permissions a plain ``open`` would give (the temporary file is made private to its owner).

    On any failure the temporary file is removed and ``path`` is left as it was.
    """
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        give_default_permissions(tmp)
        os.replace(tmp, path)
    except BaseException as error:
        full = disk_full(error, path)
        tmp.unlink(missing_ok=True)
        if full is not None:
            raise full from error
        raise


_NEARLY_FULL_BYTES = 4 * 2**20
_DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def disk_full(error: BaseException, path: Path) -> AutosegError | None:
    """The error to raise when writing ``path`` failed with ``error`` because its disk (or quota) is full, naming
    ``path``; None for any other failure. Call it before removing what the failed write left: torch reports a full
    disk as a RuntimeError about stream positions and NumPy as an OSError without an errno ("N requested and M
    written"), both recognised by the disk being (nearly) full."""
    said_full = isinstance(error, OSError) and error.errno in _DISK_FULL_ERRNOS
    unclear = isinstance(error, RuntimeError) or (isinstance(error, OSError) and error.errno is None)
    if not (said_full or unclear):
        return None
    try:
        free = shutil.disk_usage(Path(path).parent).free
    except OSError:
        free = 0
    if not said_full and free >= _NEARLY_FULL_BYTES:
        return None
    return AutosegError(
        f"{path}: cannot be written, the disk is full ({free / 2**20:.0f} MB free in {Path(path).parent}); free some space and run "
        "the command again (finished work is kept)."
    )
