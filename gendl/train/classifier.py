"""Training the MNIST classifier that scores generated digits.

python -m gendl train classifier --max-steps 1900 --out checkpoints/classifier.pt
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from gendl.config import check_config
from gendl.data import BatchStream, ImageSet, load_images
from gendl.device import check_device
from gendl.metrics import classifier_probs
from gendl.models.classifier import ARCH, DROPOUT, ClassifierConfig, MNISTClassifier
from gendl.train.common import (
    Metrics,
    OnStep,
    Trainer,
    adam,
    grad_norm,
    run_trainer,
    scalars,
)
from gendl.train.fields import (
    DATA,
    DEVICE,
    EVAL_EVERY,
    MAX_SECONDS,
    MAX_STEPS,
    SEED,
    batch_size,
    check_budget,
    learning_rate,
)
from gendl.train.memory import check_memory, classifier_bytes
from gendl.train.spec import FormSpec

LR = learning_rate("lr", "peak learning rate", "; rises to this, then falls (one-cycle schedule)")
BATCH_SIZE = batch_size(1, 8192)


@dataclass(frozen=True)
class ClassifierTrainConfig:
    model: ClassifierConfig = field(default_factory=ClassifierConfig)
    lr: float = 3e-3  # peak of the one-cycle schedule
    batch_size: int = 128
    max_steps: int | None = 1900  # ~4 epochs of 60k: 99.2% test accuracy with the default CNN
    max_seconds: float | None = None
    eval_every: int = 500
    seed: int = 0
    data: str = "mnist"  # or "fake" for smoke runs
    device: str = "auto"  # auto (a GPU if there is one), cpu, cuda or cuda:N

    def __post_init__(self) -> None:
        check_config("model", self.model, ClassifierConfig)
        DATA.check(self.data)
        LR.check(self.lr)
        BATCH_SIZE.check(self.batch_size)
        check_budget(self.max_steps, self.max_seconds)
        EVAL_EVERY.check(self.eval_every)
        SEED.check(self.seed)
        check_device(self.device)
        check_memory(self, classifier_bytes(self), ("model.arch", "batch_size"))


FORM = FormSpec(
    (
        ARCH.under("model"),
        DROPOUT.under("model"),
        LR,
        BATCH_SIZE,
        DATA,
        SEED,
        MAX_STEPS,
        MAX_SECONDS,
        EVAL_EVERY,
        DEVICE,
    )
)


def accuracy(model: MNISTClassifier, data: ImageSet) -> float:
    """Fraction of ``data`` classified correctly (eval mode)."""
    predicted = classifier_probs(model, data.images).argmax(1)
    return (predicted == data.labels).float().mean().item()


class ClassifierTrainer(Trainer):
    family = "classifier"
    stateful = ("model", "optimizer", "schedule")

    def __init__(
        self,
        config: ClassifierTrainConfig,
        train: ImageSet | None = None,
        test: ImageSet | None = None,
    ) -> None:
        """``train``/``test`` default to the config's data set (test: its held-out split)."""
        super().__init__(config)
        if train is None:
            train, test = load_images(config.data, True), load_images(config.data, False)
        torch.manual_seed(config.seed)
        self.model = MNISTClassifier(config.model).to(self.device)
        self.optimizer = adam(self.model.parameters(), config.lr)
        # one-cycle needs a known length; with only a time budget the rate stays at peak / 10
        self.schedule = None
        if config.max_steps is not None:
            self.schedule = torch.optim.lr_scheduler.OneCycleLR(
                self.optimizer, config.lr, total_steps=config.max_steps
            )
        else:
            self.optimizer.param_groups[0]["lr"] = config.lr / 10
        self.batches = BatchStream(train.to(self.device), config.batch_size, config.seed)
        self.test = None if test is None else test.to(self.device)

    def step(self, part: str = "all") -> Metrics:
        self.check_part(part)
        images, labels = self.batches.batch(self.step_count)
        self.model.train()
        logits = self.model(images)  # dropout draws from the global generator, seeded above
        loss = F.cross_entropy(logits, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = grad_norm(self.model.parameters())
        self.optimizer.step()
        if self.schedule is not None and self.schedule.last_epoch + 1 < self.schedule.total_steps:
            self.schedule.step()
        self.step_count += 1
        return scalars(
            {
                "loss": loss,
                "train_acc": (logits.argmax(1) == labels).float().mean(),
                "grad_norm": norm,
            }
        )

    def evaluate(self) -> Metrics:
        return {} if self.test is None else {"test_acc": accuracy(self.model, self.test)}


def train_classifier(
    config: ClassifierTrainConfig,
    train: ImageSet,
    test: ImageSet | None = None,
    on_step: OnStep | None = None,
) -> tuple[MNISTClassifier, list[Metrics]]:
    """Train with Adam and a one-cycle learning rate; return the model (eval mode) and its history."""
    trainer = ClassifierTrainer(config, train, test)
    history = run_trainer(trainer, on_step)
    return trainer.model.eval(), history
