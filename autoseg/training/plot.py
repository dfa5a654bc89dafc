"""progress.png: the training curves a person checks first (losses, pseudo scores, learning rate, epoch time)."""

from __future__ import annotations

import math
from pathlib import Path

from autoseg.io import atomic_write
from autoseg.training.log import TrainingLog


def plot_progress(log: TrainingLog, path: Path) -> None:
    """Draws the log's curves into ``path`` (PNG), atomically."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; safe in worker processes and on servers
    from matplotlib import pyplot

    records = log.records
    epochs = [r.epoch for r in records]
    figure, (losses, rates, times) = pyplot.subplots(3, 1, figsize=(10, 11), sharex=True, gridspec_kw={"height_ratios": [3, 1, 1]})
    losses.plot(epochs, [r.train_loss for r in records], color="tab:blue", label="train loss")
    losses.plot(epochs, [r.validation_loss for r in records], color="tab:red", label="validation loss")
    losses.set_ylabel("loss")
    scores = losses.twinx()
    for name in records[0].scores if records else []:
        scores.plot(epochs, [r.scores.get(name, math.nan) for r in records], linestyle=":", label=f"pseudo {name}")
    scores.plot(epochs, [r.ema_score for r in records], color="tab:green", linewidth=2, label="pseudo score (EMA)")
    scores.set_ylabel("pseudo score")
    handles = losses.get_legend_handles_labels()
    more = scores.get_legend_handles_labels()
    losses.legend(handles[0] + more[0], handles[1] + more[1], loc="upper right", fontsize="small")
    rates.plot(epochs, [r.learning_rate for r in records], color="black")
    rates.set_ylabel("learning rate")
    times.plot(epochs, [r.seconds for r in records], color="tab:purple")
    times.set_ylabel("epoch seconds")
    times.set_xlabel("epoch")
    figure.tight_layout()
    atomic_write(Path(path), lambda tmp: figure.savefig(tmp, format="png", dpi=80))
    pyplot.close(figure)
