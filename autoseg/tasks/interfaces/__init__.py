"""The small interfaces a task kind implements (autoseg/tasks/base.py's ``Task`` combines them).

* ``Training`` (training.py): the network, the targets and how a kind trains on them;
* ``Outputs`` (outputs.py): whole-case prediction, its restoration to the raw grid and where it is written;
* ``Evaluation`` (evaluation.py): scoring predictions, and choosing among configurations on the cross-validation;
* ``ReportView`` (report.py): the kind's part of the QC report and of ``autoseg demo``'s closing table.

Each declares as abstract only what every kind implements; what some kinds add is a capability of its own
(capabilities.py): ``ImageScores`` (image outputs scored case by case), ``Cascade`` (a configuration refining a
previous stage's prediction) and ``UncertaintyMaps`` (``--save_uncertainty`` maps beside image outputs). Code
outside autoseg/tasks asks these methods and never infers the kind from anything else.
"""

from autoseg.tasks.interfaces.capabilities import Cascade, ImageScores, UncertaintyMaps
from autoseg.tasks.interfaces.evaluation import Evaluation
from autoseg.tasks.interfaces.outputs import CaseResult, Outputs, channel_cases, channel_files
from autoseg.tasks.interfaces.report import ReportView
from autoseg.tasks.interfaces.training import Training

__all__ = [
    "Cascade",
    "CaseResult",
    "ImageScores",
    "Evaluation",
    "Outputs",
    "ReportView",
    "Training",
    "UncertaintyMaps",
    "channel_cases",
    "channel_files",
]
