from dataclasses import asdict

import pytest
import torch
from torch import nn

from gendl.config import config_from_dict
from gendl.data import fake_mnist
from gendl.errors import ConfigError
from gendl.losses import GAN_LOSSES, VAE_LIKELIHOODS, discriminator_loss, generator_loss, vae_loss
from gendl.models.gan import GAN, GAN_ARCHS, GANConfig
from gendl.models.vae import VAE, VAEConfig

SMALL_VAE = VAEConfig(latent_dim=8, encoder_dims=(64, 32), decoder_dims=(32, 64))


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _shapes(module: nn.Module) -> list[tuple[int, ...]]:
    return [tuple(p.shape) for p in module.parameters()]


@pytest.mark.parametrize("arch", GAN_ARCHS)
def test_gan_shapes_and_ranges(arch):
    model = GAN(GANConfig(arch=arch, latent_dim=16)).train()
    z = model.sample_latent(5)
    assert z.shape == (5, 16)
    images = model.generate(z)
    assert images.shape == (5, 1, 28, 28) and images.abs().max() <= 1
    assert model.discriminator(images).shape == (5,)
    decoded = model.decode(z)
    assert decoded.shape == (5, 1, 28, 28) and 0 <= decoded.min() and decoded.max() <= 1
    assert model.training  # decode switched to eval (running BatchNorm statistics) and back
    torch.testing.assert_close(decoded, (model.eval().generate(z) + 1) / 2)
    model.train()
    one = model.sample(1)  # BatchNorm archs: eval mode inside, so a batch of one works
    assert one.shape == (1, 1, 28, 28) and model.training and not one.requires_grad


@pytest.mark.parametrize("arch", ["infogan", "dcgan"])
def test_channels_last_convolutions_match_a_float64_reference(arch):
    torch.manual_seed(0)
    model = GAN(GANConfig(arch=arch)).train()
    conv_weights = [p for p in model.parameters() if p.dim() == 4]
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in conv_weights)
    assert any(not p.is_contiguous() for p in conv_weights)
    # the same weights in float64 and the default layout
    reference = GAN(GANConfig(arch=arch)).train().double().to(memory_format=torch.contiguous_format)
    reference.load_state_dict(model.state_dict())
    z = model.sample_latent(8, generator=torch.Generator().manual_seed(1))
    images = model.generate(z)
    expected = reference.generate(z.double())
    model.discriminate(images).square().sum().backward()
    reference.discriminate(expected).square().sum().backward()

    def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
        return ((a.double() - b).norm() / b.norm()).item()

    assert relative_error(images, expected) < 1e-5
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        assert relative_error(p.grad, q.grad) < 1e-4, name


def test_parameter_counts_stated_in_seed_003():
    # seed 003 checks test_generator(6580801) and test_discriminator(1102721); cs231n's test helpers
    # build the generator with noise dimension 4 (not the notebook's NOISE_DIM)
    infogan = GAN(GANConfig(arch="infogan", latent_dim=4))
    assert _count(infogan.generator) == 6_580_801
    assert _count(infogan.discriminator) == 1_102_721
    mlp = GAN(GANConfig(arch="mlp", latent_dim=4))  # cs231n's vanilla checks, same helpers
    assert (_count(mlp.generator), _count(mlp.discriminator)) == (1_858_320, 267_009)


def test_mlp_bn_matches_seed_000_printout():
    # layer list as printed in seed 000 (Linear / BatchNorm1d sizes, latent 100)
    linear = [(100, 128), (128, 256), (256, 512), (512, 1024), (1024, 784)]
    expected = []
    for i, (n_in, n_out) in enumerate(linear):
        expected += [(n_out, n_in), (n_out,)] + ([(n_out,), (n_out,)] if 0 < i < 4 else [])
    model = GAN(GANConfig(arch="mlp_bn", latent_dim=100))
    assert _shapes(model.generator) == expected
    assert _shapes(model.discriminator) == [(512, 784), (512,), (256, 512), (256,), (1, 256), (1,)]


def test_dcgan_matches_seed_004_printout():
    reference_g = nn.Sequential(  # seed 004 "Generator" listing, latent 100
        nn.ConvTranspose2d(100, 512, 4, 1, bias=False),
        nn.BatchNorm2d(512),
        nn.ConvTranspose2d(512, 256, 3, 2, 1, bias=False),
        nn.BatchNorm2d(256),
        nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False),
        nn.BatchNorm2d(128),
        nn.ConvTranspose2d(128, 1, 4, 2, 1, bias=False),
    )
    reference_d = nn.Sequential(  # seed 004 "Discriminator" listing
        nn.Conv2d(1, 128, 4, 2, 1, bias=False),
        nn.Conv2d(128, 256, 4, 2, 1, bias=False),
        nn.BatchNorm2d(256),
        nn.Conv2d(256, 512, 3, 2, 1, bias=False),
        nn.BatchNorm2d(512),
        nn.Conv2d(512, 1, 4, 1, bias=False),
    )
    model = GAN(GANConfig(arch="dcgan", latent_dim=100))
    assert _shapes(model.generator) == _shapes(reference_g)
    assert _shapes(model.discriminator) == _shapes(reference_d)


def _unchanged(before: dict[str, torch.Tensor], model: nn.Module) -> list[str]:
    return [name for name, p in model.named_parameters() if torch.equal(before[name], p)]


@pytest.mark.parametrize("loss", GAN_LOSSES)
@pytest.mark.parametrize("arch", GAN_ARCHS)
def test_gan_trains_two_steps(arch, loss):
    model = GAN(GANConfig(arch=arch, latent_dim=16)).train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt_d = torch.optim.Adam(model.discriminator.parameters(), 1e-3, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(model.generator.parameters(), 1e-3, betas=(0.5, 0.999))
    for real, _ in fake_mnist(16).batches(8, torch.Generator().manual_seed(0)):
        fake = model.generate(model.sample_latent(8)).detach()
        d_loss = discriminator_loss(
            loss, model.discriminator(2 * real - 1), model.discriminator(fake)
        )
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = generator_loss(loss, model.discriminator(model.generate(model.sample_latent(8))))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    assert _unchanged(before, model) == []


@pytest.mark.parametrize("likelihood", VAE_LIKELIHOODS)
def test_vae_trains_two_steps(likelihood):
    model = VAE(SMALL_VAE).train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    rng = torch.Generator().manual_seed(1)
    for images, _ in fake_mnist(16).batches(8, torch.Generator().manual_seed(0)):
        mu, logvar = model.encode(images)
        logits = model.decode_logits(model.reparameterize(mu, logvar, generator=rng))
        losses = vae_loss(images, logits, mu, logvar, likelihood)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        assert all(torch.isfinite(v) for v in losses.values())
    assert _unchanged(before, model) == []


def test_noise_distributions():
    uniform = GAN(GANConfig(latent_dim=50, noise="uniform")).sample_latent(2000)
    assert uniform.min() >= -1 and uniform.max() <= 1
    assert uniform.min() < -0.99 and uniform.max() > 0.99 and abs(uniform.mean()) < 0.02
    normal = GAN(GANConfig(latent_dim=50, noise="normal")).sample_latent(2000)
    assert abs(normal.mean()) < 0.02 and abs(normal.std() - 1) < 0.02 and normal.abs().max() > 3
    prior = VAE(SMALL_VAE).sample_latent(2000)
    assert prior.shape == (2000, 8) and abs(prior.std() - 1) < 0.03


@pytest.mark.parametrize("arch", [*GAN_ARCHS, "vae"])
def test_sample_is_reproducible_with_a_seeded_generator(arch):
    model = VAE(SMALL_VAE) if arch == "vae" else GAN(GANConfig(arch=arch, latent_dim=16))
    first = model.sample(4, torch.Generator().manual_seed(7))
    assert torch.equal(first, model.sample(4, torch.Generator().manual_seed(7)))
    assert not torch.equal(first, model.sample(4, torch.Generator().manual_seed(8)))


def test_vae_shapes_preprocessing_and_latent_dim_two():
    model = VAE(VAEConfig(latent_dim=2))
    x = torch.rand(3, 1, 28, 28)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, 2) and model.latent_dim == 2
    torch.testing.assert_close(model.encode(x.view(3, 784))[0], mu)
    out = model.encoder(2 * x.view(3, 784) - 1)  # seed 003 encodes preprocess_img(x) = 2x - 1
    torch.testing.assert_close(torch.cat([mu, logvar], 1), out)
    logits, mu2, _ = model(x)
    assert logits.shape == (3, 784) and torch.equal(mu, mu2)
    z = torch.randn(5, 2)
    decoded = model.decode(z)
    assert decoded.shape == (5, 1, 28, 28) and 0 <= decoded.min() and decoded.max() <= 1
    torch.testing.assert_close(decoded.view(5, 784), torch.sigmoid(model.decode_logits(z)))


def test_reparameterize_is_seeded_and_has_the_right_moments():
    model = VAE(SMALL_VAE)
    mu, logvar = torch.full((4000, 8), 2.0), torch.full((4000, 8), 2 * torch.log(torch.tensor(3.0)))
    z = model.reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    assert abs(z.mean() - 2) < 0.05 and abs(z.std() - 3) < 0.05
    assert torch.equal(z, model.reparameterize(mu, logvar, torch.Generator().manual_seed(0)))


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: GANConfig(arch="resnet"), "arch"),
        (lambda: GANConfig(latent_dim=0), "latent_dim"),
        (lambda: GANConfig(latent_dim=1025), "latent_dim"),
        (lambda: GANConfig(noise="cauchy"), "noise"),
        (lambda: VAEConfig(latent_dim=0), "latent_dim"),
        (lambda: VAEConfig(encoder_dims=()), "encoder_dims"),
        (lambda: VAEConfig(decoder_dims=(400, 0)), "decoder_dims"),
    ],
)
def test_config_validation_names_the_field(build, field):
    with pytest.raises(ConfigError, match=field):
        build()


def test_configs_round_trip_through_checkpoint_dicts():
    for config in (GANConfig(arch="dcgan", latent_dim=64, noise="normal"), SMALL_VAE):
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}
        assert config_from_dict(type(config), data) == config
