"""Data-parallel training: slices of a global batch, BatchNorm over the global batch, gradients
averaged and agreement checked by hand (the bilevel step's), and two gloo processes under torchrun
that retrain as one process does."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from nasrun import read_json, run
from torch import nn

from two_processes import in_two_processes

from nascli.runtime.torchrun import TorchrunProcess
from nascli.training.data_parallel import (Agreement, DriftError, GlobalBatchNorm, average, bounds, checksum,
                                           global_batch_norm, shard)


def test_slices_cover_the_global_batch_and_weigh_their_losses_to_its_mean() -> None:
    for n, size in ((64, 2), (63, 2), (5, 3), (7, 4)):
        parts = [bounds(n, TorchrunProcess(rank=rank, local_rank=0, size=size)) for rank in range(size)]
        assert parts[0][0] == 0 and parts[-1][1] == n and all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
        assert max(b - a for a, b in parts) - min(b - a for a, b in parts) <= 1
    x, y = torch.randn(63, 2), torch.arange(63)
    losses = torch.rand(63)
    weighted = []
    for rank in range(2):  # DDP averages the processes' gradients: the weights make that the global mean
        xs, ys, weight = shard(x, y, TorchrunProcess(rank=rank, local_rank=0, size=2))
        assert torch.equal(xs, x[ys]) and len(ys) == (32, 31)[rank]
        weighted.append(losses[ys].mean() * weight)
    assert torch.allclose(sum(weighted) / 2, losses.mean())


def test_global_batchnorm_is_batchnorm_over_the_whole_batch(tmp_path: Path) -> None:
    """In a group of one process the global batch is the local one: outputs, gradients and running
    statistics equal BatchNorm's (the two-process case is the torchrun test below)."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        plain = nn.BatchNorm2d(3)
        nn.init.normal_(plain.weight)
        nn.init.normal_(plain.bias)
        ours = GlobalBatchNorm(3)
        ours.load_state_dict(plain.state_dict())
        x = (torch.randn(6, 3, 4, 4) * 3 + 1).requires_grad_()
        x2 = x.detach().clone().requires_grad_()
        for module, inputs in ((plain, x), (ours, x2)):
            (module(inputs) * torch.arange(96.0).view(1, 3, 4, 8)[..., :4]).sum().backward()
        assert torch.allclose(plain(x), ours(x2), atol=1e-5)
        assert torch.allclose(x.grad, x2.grad, atol=1e-5)
        assert torch.allclose(plain.weight.grad, ours.weight.grad, atol=1e-4)
        for key in ("running_mean", "running_var", "num_batches_tracked"):
            assert torch.allclose(getattr(plain, key).float(), getattr(ours, key).float(), atol=1e-5), key
    finally:
        dist.destroy_process_group()


def _pieces_in(rank: int) -> dict:
    """What each piece gives in one process of two (rank 0 holds 5 images of the 9, rank 1 four)."""
    torch.manual_seed(0)
    x = torch.randn(9, 3, 2, 2) * 2 + 1
    scale = torch.tensor(0.7, requires_grad=True)
    mine = x[:5] if rank == 0 else x[5:]
    bn = nn.BatchNorm2d(3, affine=False)
    bn.num_batches_tracked.add_(1)
    out = global_batch_norm(bn, mine, scale.expand(3), None)
    (out * torch.arange(out.numel()).view_as(out)).sum().backward()
    grads = [torch.full((2, 2), float(rank)), torch.tensor([1.0 + rank], dtype=torch.float64)]
    same, drifted = Agreement(torch.device("cpu")), Agreement(torch.device("cpu"))
    same.add([torch.ones(3), checksum([torch.arange(6.0)])])
    drifted.add([torch.ones(3) * (1 + 1e-7 * rank)])
    same.check("values")
    try:
        drifted.check("architecture parameters")
        drift = ""
    except DriftError as exc:
        drift = str(exc)
    return {"out": out.detach(), "scale_grad": scale.grad, "running": (bn.running_mean, bn.running_var),
            "mean": average(grads), "drift": drift}


def test_pieces_of_the_bilevel_step_in_two_processes(tmp_path: Path) -> None:
    """BatchNorm of the global batch times a mixture weight (an edge's folded BatchNorm), gradients
    averaged per dtype, and an Agreement that passes for equal values and fails for any drift, in
    every process alike."""
    ranks = in_two_processes(_pieces_in, tmp_path)
    torch.manual_seed(0)
    x = torch.randn(9, 3, 2, 2) * 2 + 1
    scale = torch.tensor(0.7, requires_grad=True)
    bn = nn.BatchNorm2d(3, affine=False)
    out = nn.functional.batch_norm(x, bn.running_mean, bn.running_var, scale.expand(3).contiguous(), None, True)
    (out[:5] * torch.arange(out[:5].numel()).view_as(out[:5])).sum().backward(retain_graph=True)
    (out[5:] * torch.arange(out[5:].numel()).view_as(out[5:])).sum().backward()
    assert torch.allclose(torch.cat([ranks[0]["out"], ranks[1]["out"]]), out, atol=1e-5)
    # each process's backward reaches the scale through the other's statistics: the sum is the whole gradient
    assert torch.allclose(ranks[0]["scale_grad"] + ranks[1]["scale_grad"], scale.grad, atol=1e-4)
    for rank in ranks:
        assert torch.allclose(rank["running"][0], bn.running_mean) and torch.allclose(rank["running"][1], bn.running_var)
        assert torch.equal(rank["mean"][0], torch.full((2, 2), 0.5)) and rank["mean"][1].dtype == torch.float64
        assert rank["mean"][1].item() == 1.5
        assert "no longer hold the same architecture parameters" in rank["drift"] and "(largest difference 1.19e-07)" in rank["drift"]


@pytest.mark.slow
@pytest.mark.parametrize("batch", [["trainer.batch_size=63"], ["trainer.batch_size=32", "trainer.accumulate=2"]],
                         ids=["batch63", "accumulate2"])
def test_two_gloo_processes_under_torchrun_retrain_as_one_process(tmp_path: Path, batch: list[str]) -> None:
    """`torchrun --nproc_per_node=2 -m nascli retrain` at batch 63 (slices of 32 + 31, then 19 + 18
    images), or at batch 32 accumulated over 2 (gradients all-reduced once a step, after the second
    micro-batch), ends within float rounding of one process at the same batches: the same batches, augmentation and
    BatchNorm statistics, summed in another order. Two steps: beyond a few, these tiny networks on
    8x8 digits amplify rounding chaotically (one process with channels_last drifts 0.1 from one
    without after four steps), so exactness is checked where it can be. Only rank 0 writes, into
    one run directory."""
    overrides = ["debug=smoke", "genotype=DARTS_V2", "trainer.epochs=1", "dataset.max_train_samples=100",
                 *batch, "+network.auxiliary=true", "trainer.auxiliary_weight=0.4", "trainer.cutout=2",
                 "plots=false"]
    ddp = tmp_path / "ddp"
    env = {**os.environ, "COLUMNS": "200", "NASCLI_DATA_DIR": str(tmp_path / "data"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "nascli", "retrain", *overrides, f"hydra.run.dir={ddp}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    one = tmp_path / "one"
    assert run("retrain", *overrides, run_dir=one).code == 0

    assert set(os.listdir(tmp_path)) - {"data"} == {"ddp", "one"}  # no directory of rank 1's own
    assert sorted(os.listdir(ddp)) == [".hydra", ".lock", "metrics.csv", "model.pt", "report.json", "report.md", "retrain.log"]
    report = read_json(ddp / "report.json")
    assert report["status"] == "completed" and report["processes"] == 2
    weights = [torch.load(d / "model.pt", weights_only=True)["state_dict"] for d in (ddp, one)]
    gap = max((weights[0][k].double() - weights[1][k].double()).abs().max().item() for k in weights[1])
    assert gap < 1e-5, gap
    (ours,), (single,) = [list(csv.DictReader(open(d / "metrics.csv"))) for d in (ddp, one)]
    for key in ("train_accuracy", "val_accuracy"):
        assert ours[key] == single[key]
    for key in ("train_loss", "val_loss"):
        assert float(ours[key]) == pytest.approx(float(single[key]), abs=1e-5)
