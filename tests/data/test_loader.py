"""Batch loader and tensor augmentations: shapes, determinism, and what each augmentation does."""

from __future__ import annotations

import torch
from configured import dataset

from nascli.data.datasets import Augment
from nascli.data.loader import BatchLoader, cutout, random_crop, random_flip


def test_eval_loader_covers_the_split_in_order_and_normalises() -> None:
    data = dataset("digits")
    batches = list(BatchLoader(data.test, data, batch_size=100))
    y = torch.cat([b[1] for b in batches])
    assert torch.equal(y, data.test.labels)
    x = torch.cat([b[0] for b in BatchLoader(data.train, data, batch_size=4096)])
    assert abs(x.mean().item()) < 0.05 and abs(x.std().item() - 1) < 0.05


def test_training_order_and_augmentation_repeat_with_the_seed() -> None:
    data = dataset("fake", train_samples=64, val_samples=8, test_samples=8)
    first = [x for x, _ in BatchLoader(data.train, data, 16, train=True, cutout_length=8, seed=3)]
    again = [x for x, _ in BatchLoader(data.train, data, 16, train=True, cutout_length=8, seed=3)]
    other = [x for x, _ in BatchLoader(data.train, data, 16, train=True, cutout_length=8, seed=4)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0])


def test_drop_last_and_length() -> None:
    data = dataset("digits", max_train_samples=100)
    assert len(BatchLoader(data.train, data, 32)) == 4
    assert len(BatchLoader(data.train, data, 32, drop_last=True)) == 3


def test_training_batches_augment_as_the_datasets_augment_says() -> None:
    def data_with(**augment):
        return dataset("fake", train_samples=32, val_samples=4, test_samples=4, image_size=8, augment=augment)

    def first_batch(data) -> torch.Tensor:
        return next(iter(BatchLoader(data.train, data, len(data.train), train=True, seed=0)))[0]

    assert data_with().augment == Augment(crop_padding=4, flip=True)  # fake.yaml's
    data = data_with(crop_padding=0, flip=False)
    plain = first_batch(data)
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0))  # the loader's shuffle
    in_order = next(iter(BatchLoader(data.train, data, len(data.train))))[0]
    torch.testing.assert_close(plain, in_order[order])  # no augmentation: the normalised images, shuffled
    flipped = first_batch(data_with(crop_padding=0, flip=True))
    mirrored = [torch.equal(f, p.flip(2)) for f, p in zip(flipped, plain)]
    assert 4 < sum(mirrored) < len(plain) - 4
    assert all(m or torch.equal(f, p) for m, f, p in zip(mirrored, flipped, plain))
    assert not torch.equal(first_batch(data_with(crop_padding=2, flip=False)), plain)


def test_random_crop_shifts_content_within_the_padding() -> None:
    x = torch.zeros(64, 1, 8, 8)
    x[:, :, 4, 4] = 1.0
    out = random_crop(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.all(out.sum(dim=(1, 2, 3)) <= 1)
    positions = {tuple(torch.nonzero(img[0])[0].tolist()) for img in out if img.sum() > 0}
    assert len(positions) > 5 and all(2 <= r <= 6 and 2 <= c <= 6 for r, c in positions)


def test_flip_mirrors_about_half_the_batch() -> None:
    x = torch.arange(8.0).expand(1000, 1, 8, 8).clone()
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = (out[:, 0, 0, 0] == 7).sum().item()
    assert 400 < flipped < 600 and torch.equal(out[out[:, 0, 0, 0] == 7][0], x[0].flip(2))


def test_cutout_zeros_a_square() -> None:
    out = cutout(torch.ones(16, 3, 32, 32), 16, torch.Generator().manual_seed(0))
    zeros = (out[:, 0] == 0).sum(dim=(1, 2))
    assert torch.all(zeros > 0) and torch.all(zeros <= 17 * 17)
    assert torch.equal(out[:, 0] == 0, out[:, 2] == 0)  # the same square in every channel
