"""Segmentation: a label map per case (labels, or nested regions), CE + Dice, overlaps and surface distances.

``task``: the task kind; ``report``: its view in the QC report (a slice viewer per case, one colour per structure).
"""

from autoseg.tasks.segmentation import references  # noqa: F401  (registers the kind's reference format)
from autoseg.tasks.segmentation.task import SegmentationTask

__all__ = ["SegmentationTask"]
