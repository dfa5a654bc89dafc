"""The per-epoch training log: kept in the checkpoint, printed, and appended to training_log.txt."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    validation_loss: float
    scores: dict[str, float]
    ema_score: float
    learning_rate: float
    seconds: float
    train_seconds: float = 0.0
    peak_memory_gb: float | None = None  # CUDA only: torch.cuda.max_memory_allocated during the epoch

    def line(self) -> str:
        scores = ", ".join(f"{name} {value:.4f}" for name, value in self.scores.items())
        memory = f"  peak GPU memory {self.peak_memory_gb:.2f} GB" if self.peak_memory_gb is not None else ""
        return (
            f"epoch {self.epoch:4d}  train loss {self.train_loss:.4f}  val loss {self.validation_loss:.4f}  "
            f"pseudo scores: {scores}  (EMA {self.ema_score:.4f})  lr {self.learning_rate:.2e}  {self.seconds:.1f} s{memory}"
        )


@dataclass
class TrainingLog:
    records: list[EpochRecord] = field(default_factory=list)

    def to_state(self) -> list[dict]:
        return [record.__dict__ for record in self.records]

    @classmethod
    def from_state(cls, state: list[dict]) -> "TrainingLog":
        return cls([EpochRecord(**{k: v for k, v in record.items()}) for record in state])

    def append(self, record: EpochRecord, text_file: Path | None = None) -> None:
        self.records.append(record)
        print(record.line(), flush=True)
        if text_file is not None:
            with open(text_file, "a") as handle:
                handle.write(record.line() + "\n")

    @property
    def best_ema(self) -> float:
        values = [r.ema_score for r in self.records if not math.isnan(r.ema_score)]
        return max(values) if values else -math.inf
