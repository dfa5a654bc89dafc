"""Postprocessing of predicted label maps: keep only the largest connected component.

``postprocessing.json`` (written by ``autoseg find_best_configuration``, which
keeps each step only where it raised the cross-validation Dice) says which
steps to apply, in this order:

* ``foreground_largest_component``: of the whole foreground (every label > 0
  together), keep the largest connected component; voxels outside it become
  background.
* ``largest_component_per_label``: for each listed label value, keep only its
  largest connected component; the rest of that label becomes background.

Components are connected through faces, edges and corners (26-neighbourhood
in 3D, 8 in 2D), so structures touching diagonally stay one component.
``autoseg apply_postprocessing`` runs the steps on a folder of predictions.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from scipy import ndimage

from autoseg.errors import AutosegError
from autoseg.io import ImageData, atomic_write, read_image, split_ending, write_image
from autoseg.parallel import map_cases


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Returns the largest connected component of a boolean mask (all False stays all False)."""
    components, count = ndimage.label(mask, structure=np.ones((3,) * mask.ndim, dtype=bool))
    if count <= 1:
        return mask.copy()
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    return components == int(np.argmax(sizes))


@dataclass
class Postprocessing:
    """Which largest-component steps to apply to a label map (see the module's description)."""

    foreground_largest_component: bool = False
    largest_component_per_label: list[int] = field(default_factory=list)

    @property
    def does_something(self) -> bool:
        return self.foreground_largest_component or bool(self.largest_component_per_label)

    def apply(self, label_map: np.ndarray) -> np.ndarray:
        """Returns a postprocessed copy of ``label_map`` (any spatial dimensionality)."""
        result = label_map.copy()
        if self.foreground_largest_component:
            foreground = result > 0
            result[foreground & ~largest_component(foreground)] = 0
        for value in self.largest_component_per_label:
            present = result == value
            result[present & ~largest_component(present)] = 0
        return result

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict, source: str = "postprocessing.json") -> "Postprocessing":
        try:
            steps = cls(bool(data["foreground_largest_component"]), [int(v) for v in data["largest_component_per_label"]])
        except (KeyError, TypeError, ValueError) as error:
            raise AutosegError(
                f"{source} is not a postprocessing file ({error!r}); it needs 'foreground_largest_component' (true/false) "
                "and 'largest_component_per_label' (a list of label values), as autoseg find_best_configuration writes it."
            ) from None
        if any(v <= 0 for v in steps.largest_component_per_label):
            raise AutosegError(
                f"{source}: largest_component_per_label lists label values above 0, got {steps.largest_component_per_label}."
            )
        return steps

    @classmethod
    def load(cls, path: Path) -> "Postprocessing":
        if not path.is_file():
            raise AutosegError(
                f"{path} not found; autoseg find_best_configuration writes postprocessing.json into the dataset's results folder."
            )
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise AutosegError(f"{path} is not valid JSON ({error}).") from None
        return cls.from_json(data, str(path))

    def save(self, path: Path, extra: dict | None = None) -> None:
        """Writes the steps (and ``extra`` facts, e.g. the Dice before and after) atomically."""
        text = json.dumps({**self.to_json(), **(extra or {})}, indent=2) + "\n"
        atomic_write(path, lambda tmp: tmp.write_text(text))


def _apply_file(item: tuple[Path, Path], steps: Postprocessing) -> None:
    source, target = item
    image = read_image(source)
    write_image(ImageData(steps.apply(image.array[0])[None].astype(image.array.dtype, copy=False), image.geometry), target)


def apply_postprocessing_folder(input_dir: Path, output_dir: Path, steps: Postprocessing, num_processes: int | None = None) -> list[Path]:
    """Postprocesses every label file of ``input_dir`` into ``output_dir`` (same names, format and geometry); returns the files written.

    dataset.json and prediction.json are copied along, so ``autoseg evaluate`` works on the output as on the input.
    """
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if not input_dir.is_dir():
        raise AutosegError(f"{input_dir} is not a folder of predictions.")
    if input_dir.resolve() == output_dir.resolve():
        raise AutosegError(f"the output folder is the input folder ({input_dir}); choose another -o so the raw predictions are kept.")
    files = [p for p in sorted(input_dir.iterdir()) if p.is_file() and not p.name.startswith(".") and split_ending(p) is not None]
    if not files:
        raise AutosegError(f"{input_dir} holds no label files to postprocess.")
    output_dir.mkdir(parents=True, exist_ok=True)
    map_cases(partial(_apply_file, steps=steps), [(p, output_dir / p.name) for p in files], num_processes, desc="postprocessing")
    for name in ("dataset.json", "prediction.json"):
        if (input_dir / name).is_file():
            atomic_write(output_dir / name, lambda tmp, name=name: shutil.copyfile(input_dir / name, tmp))
    return [output_dir / p.name for p in files]
