import pytest
import torch

from gendl.data import fake_mnist, load_mnist
from gendl.errors import ConfigError
from gendl.metrics import classifier_probs
from gendl.models import ClassifierConfig, MNISTClassifier
from gendl.train.classifier import ClassifierTrainConfig, accuracy, train_classifier
from gendl.train.common import StopTraining


@pytest.mark.parametrize("arch", ["cnn", "mlp"])
def test_shapes_and_probabilities(arch):
    model = MNISTClassifier(ClassifierConfig(arch=arch)).train()
    x = torch.rand(5, 1, 28, 28)
    assert model(x).shape == (5, 10) and model(x.view(5, 784)).shape == (5, 10)
    p = classifier_probs(model, x, batch_size=2)
    assert p.shape == (5, 10) and torch.allclose(p.sum(1), torch.ones(5))
    assert model.training  # the mode is restored
    assert torch.allclose(p, model.eval()(x).softmax(-1))


@pytest.mark.parametrize("kwargs", [{"arch": "resnet"}, {"dropout": 1.5}])
def test_bad_model_config(kwargs):
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        ClassifierConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs", [{"lr": 0.0}, {"batch_size": 0}, {"max_steps": None, "max_seconds": None}]
)
def test_bad_train_config(kwargs):
    with pytest.raises(ConfigError):
        ClassifierTrainConfig(**kwargs)


@pytest.mark.parametrize("arch", ["cnn", "mlp"])
def test_learns_fake_digits_and_is_reproducible(arch):
    data = fake_mnist(200)
    config = ClassifierTrainConfig(ClassifierConfig(arch=arch), max_steps=30, batch_size=32)
    model, history = train_classifier(config, data, data)
    assert len(history) == 30 and history[-1]["step"] == 30
    assert accuracy(model, data) > 0.9
    _, again = train_classifier(config, data, data)
    assert [h["loss"] for h in again] == [h["loss"] for h in history]


def test_callback_can_stop_the_loop():
    seen = []

    def on_step(metrics):
        seen.append(metrics["step"])
        if metrics["step"] == 2:
            raise StopTraining

    _, history = train_classifier(
        ClassifierTrainConfig(max_steps=50, batch_size=16), fake_mnist(64), None, on_step
    )
    assert seen == [1, 2] and len(history) == 2


@pytest.mark.slow
@pytest.mark.mnist
def test_real_mnist_classifier_reaches_99_percent():
    model, history = train_classifier(ClassifierTrainConfig(), load_mnist(True), load_mnist(False))
    assert history[-1]["test_acc"] >= 0.99


def test_resume_from_state_continues_the_same_curve():
    from gendl.train.classifier import ClassifierTrainer
    from gendl.train.common import run_trainer

    data = fake_mnist(128)
    config = ClassifierTrainConfig(max_steps=12, batch_size=16, eval_every=100)
    straight = run_trainer(ClassifierTrainer(config, data))
    first = ClassifierTrainer(config, data)

    def stop_at_5(metrics):
        if metrics["step"] == 5:
            raise StopTraining

    head = run_trainer(first, stop_at_5)
    state = first.state_dict()
    second = ClassifierTrainer(config, data)
    second.load_state_dict(state)
    tail = run_trainer(second)
    assert [m["loss"] for m in head + tail] == [m["loss"] for m in straight]
