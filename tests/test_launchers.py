"""Cluster launchers (optional extras): the presets follow their plugins' schemas, real 2-job sweeps
through submitit_local and a local Ray instance complete both runs, and every job records its placement."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest
import yaml

from nasrun import REPO, nas, read_json, run

LAUNCHERS = REPO / "conf" / "hydra" / "launcher"
ray = pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None,
                         reason='hydra-ray-launcher is not installed: pip install "nascli[ray]" (not in dev: ray is large)')
submitit = pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None,
                              reason='hydra-submitit-launcher is not installed: pip install "nascli[slurm]"')


@submitit
@pytest.mark.parametrize(("preset", "schema"), [("submitit_slurm", "SlurmQueueConf"),
                                                ("submitit_local", "LocalQueueConf")])
def test_submitit_presets_set_every_option_of_the_plugins_schema(preset: str, schema: str) -> None:
    from hydra_plugins.hydra_submitit_launcher import config

    ours = yaml.safe_load((LAUNCHERS / f"{preset}.yaml").read_text())
    theirs = {f.name: f.default for f in dataclasses.fields(getattr(config, schema))}
    assert set(ours) == set(theirs) and ours["_target_"] == theirs["_target_"]
    if preset == "submitit_slurm":
        assert ours["gpus_per_node"] == 1 and ours["timeout_min"] > 0 and "partition" in ours


@pytest.mark.slow
@submitit
def test_a_two_job_sweep_through_submitit_local_completes_both_runs(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = nas("search", "-m", "debug=smoke", "seed=0,1", "hydra/launcher=submitit_local",
                 f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.code == 0, result.text
    assert "validated against ConfigStore" not in result.text
    reports = [read_json(sweep / str(job) / "report.json") for job in (0, 1)]
    assert [r["status"] for r in reports] == ["completed", "completed"]
    assert [r["seed"] for r in reports] == [0, 1]
    for job in (0, 1):
        assert (sweep / str(job) / "genotype.json").exists()
    assert reports[0]["placement"]["device"] == "cpu" and reports[0]["placement"]["gpu_slot"] is None
    assert list((sweep / ".submitit").iterdir()), "submitit kept no record of its jobs"


def test_a_bad_jobs_per_gpu_is_a_clear_error(tmp_path: Path) -> None:
    result = run("search", "debug=smoke", "jobs_per_gpu=0", run_dir=tmp_path / "run")
    assert result.code == 2 and "jobs_per_gpu must be a whole number of at least 1, got 0" in result.err
    assert read_json(tmp_path / "run" / "report.json")["status"] == "failed"


@ray
def test_a_two_job_sweep_on_a_local_ray_instance_completes_both_runs(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = nas("search", "-m", "debug=smoke", "seed=0,1", "hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2",
                 f"hydra.sweep.dir={sweep}", cwd=tmp_path, env={"RAY_USAGE_STATS_ENABLED": "0"})
    assert result.code == 0, result.text
    reports = [read_json(sweep / str(job) / "report.json") for job in (0, 1)]
    assert [(r["status"], r["seed"], r["placement"]["device"]) for r in reports] == [("completed", 0, "cpu"),
                                                                                    ("completed", 1, "cpu")]


def test_a_launcher_preset_without_its_plugin_names_the_extra_to_install(tmp_path: Path, monkeypatch) -> None:
    from nascli import apps

    monkeypatch.setitem(apps.LAUNCHER_PLUGINS, "ray", ("hydra_plugins.no_such_launcher", "hydra-ray-launcher", "ray"))
    assert apps.missing_launcher(["-m", "seed=0,1", "hydra/launcher=joblib"]) is None
    assert apps.missing_launcher(["hydra/launcher=ray", "--cfg", "hydra"]) is None  # no sweep, no launcher
    assert apps.missing_launcher(["-m", "hydra/launcher=ray"]) == (
        'hydra/launcher=ray needs the hydra-ray-launcher plugin, which is not installed here: pip install "nascli[ray]"')


@submitit
def test_submitit_slurm_off_a_cluster_says_where_to_run_it(monkeypatch) -> None:
    from nascli import apps

    monkeypatch.setenv("PATH", "/nonexistent")
    assert "sbatch and srun, which are not on PATH" in apps.missing_launcher(["-m", "hydra/launcher=submitit_slurm"])
