"""nas retrain: train a found genotype from scratch and save a checkpoint; or, with init=, fine-tune a
trained network (a retrain checkpoint, or a one-shot search's supernet) on this data.

Every epoch's model.pt also holds the training state, so `resume=true` continues a killed run to
the weights an uninterrupted one ends with. Under torchrun every process trains its slice of each
batch (nascli.training.data_parallel) and rank 0 alone writes files."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from omegaconf import OmegaConf

from nascli import run_plots
from nascli.checkpoint import FILENAME, load_checkpoint, save_checkpoint
from nascli.data.tables import check_reads
from nascli.errors import CheckpointError, ConfigError
from nascli.genotype_file import genotype_record, load_genotype
from nascli.hardware import cost
from nascli.registry import SPACES
from nascli.runtime import torchrun
from nascli.runtime.common import resolve_device, seed_everything
from nascli.runtime.config import build, build_option, check_app, check_fields, default_option, load_option, plain
from nascli.runtime.console import progress, table
from nascli.runtime.files import write_csv
from nascli.runtime.run_report import markdown_table
from nascli.runtime.run_state import check_same
from nascli.runtime.context import RunContext
from nascli.search.resume import saved_supernet
from nascli.training import finetune
from nascli.training.loop import TrainConfig, accuracy, train
from nascli.training.text import evaluate as evaluate_text
from nascli.training.text import example_tokens, is_lm, is_text, train_text
from nascli.training.steps import resolve
from nascli.weight_sharing.inherit import from_supernet

COLUMNS = ["epoch", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "epoch_s"]
LM_COLUMNS = ["epoch", "lr", "train_loss", "train_perplexity", "val_loss", "val_perplexity", "switched_to_asgd", "epoch_s"]
DATA_PARALLEL = True  # runs under torchrun (the runner refuses commands without this)


@dataclass
class RetrainOptions:
    """The top-level options of conf/retrain.yaml."""

    genotype: str | None        # a search run directory, a genotype.json, or a published name
    baseline: str | None        # a standard network instead (the baseline space's published names)
    init: str | None            # fine-tune: a retrain run / model.pt, or a one-shot search run directory
    seed: int
    device: str
    network: dict[str, Any]     # sizes over the genotype's own (network.channels=36 ...): keys of its space
    network_by_space: dict[str, Any]  # the same per space, for a genotype of that space only (presets)
    searched_hparams: bool      # train with the hyper-parameters a joint search chose with the genotype
    plots: bool
    resume: bool                # continue the run in hydra.run.dir from its last epoch's checkpoint


def _network_space(space: Any, options: RetrainOptions) -> Any:
    """The genotype's space at the size its network trains: the size its search recorded
    (genotype.json's space_config), then network_by_space.<its space> (a preset's sizes for that
    space: debug=smoke's, an experiment's), then network.* over both."""
    for name, sizes in options.network_by_space.items():
        if name not in SPACES.names():
            raise ConfigError(f"network_by_space.{name}: there is no {name!r} space; the spaces are "
                              f"{', '.join(SPACES.names())}.")
        if not isinstance(sizes, dict):
            raise ConfigError(f"network_by_space.{name} must be a mapping of network sizes, got {sizes!r}.")
    preset = dict(options.network_by_space.get(space.name) or {})
    for where, sizes in ((f"network_by_space.{space.name}", preset), ("network", options.network)):
        unknown = sorted(set(sizes) - set(space.config()))
        if unknown:
            known = ", ".join(sorted(space.config()))
            raise ConfigError(f"{where}.* keys for the {space.name} space are: {known}; got {', '.join(unknown)}.")
    sizes = {**preset, **options.network}
    return type(space)(**{**space.config(), **sizes}) if sizes else space


def _searched(ctx: RunContext, record: dict[str, Any], trainer: TrainConfig) -> dict[str, Any]:
    """Set the training hyper-parameters a joint search chose with the genotype beneath the command
    line (a trainer.<key>= given there wins over the genotype's); returns those used. The run's
    config record (.hydra/config.yaml) shows them as the trainer's values."""
    hparams = record.get("hparams", {})
    if not hparams:
        return {}
    check_fields({**asdict(trainer), **hparams}, TrainConfig, "genotype.json's hparams")
    cfg = ctx.beneath({f"trainer.{key}": value for key, value in hparams.items()})
    return {key: value for key, value in hparams.items() if cfg.trainer.get(key) == value}


def run(ctx: RunContext) -> float:
    """Retrain; returns the final validation accuracy (test accuracy when there is no validation split)."""
    cfg = ctx.cfg
    options = check_app(cfg, RetrainOptions, "retrain", ("dataset", "trainer", "finetune"))
    trainer: TrainConfig = build(cfg.trainer, "trainer")
    tuning: finetune.FinetuneConfig | None = build(cfg.finetune, "finetune") if options.init else None
    saved = _saved_run(ctx) if options.resume else None
    if saved is not None and "metrics" in saved:
        return _complete(ctx, saved)
    if options.init is None:
        _check_from_scratch(options, cfg)
        space, arch, record = load_genotype(options.genotype or _baseline(options.baseline))
        space = _network_space(space, options)
    hparams = _searched(ctx, record, trainer) if options.searched_hparams and tuning is None else {}
    if hparams:
        trainer = build(ctx.cfg.trainer, "trainer")
        ctx.console.print("Training with the hyper-parameters searched with the genotype: "
                          + ", ".join(f"{k}={v}" for k, v in hparams.items()), highlight=False)
    seed_everything(options.seed)
    device = resolve_device(options.device)
    if ctx.process is not None:
        device = torchrun.device_for(ctx.process, device)
    speed = resolve(trainer, device, ctx.process.size if ctx.process else 1).describe()  # a clear error before any work
    main = ctx.process is None or ctx.process.main  # the one process that writes files
    data = build(cfg.dataset, "dataset")
    dataset_config = plain(cfg.dataset)
    if tuning is not None:
        pre = _pretrained(ctx, options, data, dataset_config)
        tuned = finetune.prepare(pre, data, tuning)
        space, arch, record, model = pre.space, pre.arch, pre.record, tuned.model
    else:
        check_reads(space, cfg.dataset)
        if space.reads_tables:  # mlp: the data's own categorical columns are embedded (none for images)
            space = space.for_shape(data.shape)
        model = space.build_network(arch, data.num_classes, data.in_channels, data.input_size)
    genotype = {**genotype_record(space, arch, record.get("metrics", {})),
                "source": options.init or options.genotype or options.baseline,
                **({"hparams": record["hparams"]} if record.get("hparams") else {})}
    ctx.report.results.update({"genotype": genotype["arch_str"], "search_space": space.name, "dataset": data.name,
                               "seed": options.seed, "device": str(device), "epochs": trainer.epochs,
                               **({"searched_hparams": hparams} if hparams else {}), "speed": speed,
                               **({"processes": ctx.process.size} if ctx.process else {})})
    if tuning is not None:
        ctx.report.results.update({"init": pre.source, "finetune": tuned.describe(tuning),
                                   "trainable_params": tuned.trainable, "total_params": tuned.total})
        ctx.console.print(f"Fine-tuning ({tuning.mode}, {tuned.head} classifier) {tuned.trainable:,} of "
                          f"{tuned.total:,} parameters, from {pre.source['kind']} {pre.source['path']}.",
                          highlight=False, soft_wrap=True)
    history: list[dict[str, float]] = []
    state = _resume_into(ctx, model, saved, trainer) if saved is not None else None
    if state is not None:
        history.extend(state["history"])
        ctx.report.results["resumed_after_epoch"] = state["epoch"]

    def save(extra: dict[str, Any]) -> None:
        if not main:
            return
        adapted = {"network_input": tuned.network_input} if tuning is not None and tuned.network_input else {}
        save_checkpoint(ctx.run_dir / FILENAME, finetune.deployable(model), genotype, data.describe(), dataset_config,
                        {"config": OmegaConf.to_container(ctx.cfg, resolve=True), **adapted, **extra})

    def on_checkpoint(train_state: dict[str, Any]) -> None:
        # the weights that train are model.pt's, unless LoRA adapters were merged into a copy for it
        weights = {} if finetune.deployable(model) is model else {"weights": model.state_dict()}
        save({"epoch": train_state["epoch"], "resume": {**train_state, **weights}})

    with progress(ctx.console) as bar:
        task = bar.add_task("retrain", total=trainer.epochs, completed=len(history), info="val -")

        def on_epoch(epoch: dict[str, float]) -> None:
            history.append(epoch)
            if main:
                write_csv(ctx.run_dir / "metrics.csv", history, _columns(data))
                ctx.loggers.log_metrics(epoch, step=int(epoch["epoch"]))
            info = f"val ppl {epoch['val_perplexity']:.2f}" if is_lm(data) else f"val {epoch['val_accuracy']:.2f}%"
            bar.update(task, advance=1, info=info)

        (train_text if is_text(data) else train)(model, data, trainer, device, seed=options.seed, on_epoch=on_epoch,
                                                 resume=state, on_checkpoint=on_checkpoint)
    results = _finish(ctx, finetune.deployable(model), data, trainer, device, history, genotype, options.plots and main)
    save({"epoch": len(history), "metrics": results})  # the finished checkpoint: no training state
    if tuning is not None and tuning.compare_scratch:
        _compare_scratch(ctx, options.seed, pre, tuning, tuned, data, trainer, device, results)
    return _objective(results)


def _columns(data: Any) -> list[str]:
    """metrics.csv's columns: a language model's are perplexities."""
    return LM_COLUMNS if is_lm(data) else COLUMNS


def _objective(results: dict[str, Any]) -> float:
    """What the app returns: validation accuracy (a language model's perplexity), else the test one."""
    lm = "val_perplexity" in results
    val = results["val_perplexity" if lm else "val_accuracy"]
    return val if val is not None and val == val else results["test_perplexity" if lm else "test_accuracy"]


def _saved_run(ctx: RunContext) -> dict[str, Any] | None:
    """The run directory's model.pt when it was written by a retrain with these settings; None when
    there is none yet (a run killed in its first epoch starts again)."""
    path = ctx.run_dir / FILENAME
    if not path.exists():
        ctx.console.print(f"resume=true: {ctx.run_dir} holds no checkpoint yet; training from the first epoch.",
                          highlight=False, soft_wrap=True)
        return None
    saved, _ = load_checkpoint(str(path))
    check_same(saved.get("config") or {}, OmegaConf.to_container(ctx.cfg, resolve=True), path, "retrain")
    if "metrics" not in saved and not isinstance(saved.get("resume"), dict):
        raise CheckpointError(f"{path} holds no training state to resume from.")
    return saved


def _resume_into(ctx: RunContext, model: Any, saved: dict[str, Any], trainer: TrainConfig) -> dict[str, Any]:
    """Load the last epoch's weights into `model`; returns the training state that continues from them."""
    state = dict(saved["resume"])
    try:
        model.load_state_dict(state.pop("weights", None) or saved["state_dict"])
    except (RuntimeError, KeyError) as exc:
        raise CheckpointError(f"The checkpoint's weights do not fit the network ({str(exc)[:200]}).") from None
    ctx.console.print(f"Resuming {ctx.run_dir} after epoch {state['epoch']} of {trainer.epochs}.",
                      highlight=False, soft_wrap=True)
    return state


def _complete(ctx: RunContext, saved: dict[str, Any]) -> float:
    """A finished run resumed: report its results again, train nothing."""
    results = dict(saved["metrics"])
    ctx.report.results.update({"genotype": saved["genotype"]["arch_str"], "search_space": saved["genotype"]["search_space"],
                               "dataset": saved["data"].get("name"), "epochs": saved.get("epoch"), **results,
                               "checkpoint": FILENAME, "data": saved["data"], "resumed_after_epoch": saved.get("epoch")})
    ctx.report.sections.append(("Results", markdown_table([results], list(results))))
    ctx.console.print(f"{ctx.run_dir} is complete ({saved.get('epoch')} epochs): nothing to resume.",
                      highlight=False, soft_wrap=True)
    ctx.console.print(table("retrain", [results], list(results)))
    return _objective(results)


def _check_from_scratch(options: RetrainOptions, cfg: Any) -> None:
    """Without init= there is nothing to fine-tune (finetune settings other than retrain.yaml's
    default are a mistake), and the genotype is needed."""
    if plain(cfg.finetune) != plain(load_option("finetune", default_option("retrain", "finetune"))):
        raise ConfigError("finetune=... adapts a trained network: give init=<retrain run, its model.pt, or a "
                          "one-shot search run>.")
    if options.genotype is not None and options.baseline is not None:
        raise ConfigError(f"genotype={options.genotype} and baseline={options.baseline} each name the network to "
                          f"train: give one.")
    if options.genotype is None and options.baseline is None:
        raise ConfigError("nas retrain needs genotype=<search run, genotype.json or published name, e.g. DARTS_V2> "
                          "or baseline=<resnet18, mobilenet_v3_small or efficientnet_b0> to train from scratch, or "
                          "init=<retrain run or one-shot search run> to fine-tune.")


def _baseline(name: str | None) -> str:
    """The published genotype of a baseline network (nascli.spaces.baseline), or a ConfigError."""
    names = build_option("search_space", "baseline").published
    if name not in names:
        raise ConfigError(f"baseline must be one of {', '.join(names)}, got {name!r}.")
    return str(name)


def _pretrained(ctx: RunContext, options: RetrainOptions, data: Any, dataset_config: dict[str, Any]) -> Any:
    """The network init= names, checked against genotype= and network.* (its size is the init's;
    network_by_space, a preset's, does not apply to it)."""
    if options.baseline is not None:
        raise ConfigError(f"baseline={options.baseline} trains a standard network from scratch and init= fine-tunes a "
                          f"trained one: give one of them.")
    pre = finetune.load_pretrained(options.init, data, dataset_config, ctx.paths.data_dir, saved_supernet, from_supernet)
    finetune.check_genotype(pre, options.genotype)
    if options.network:
        raise ConfigError("network.* sizes a network trained from scratch; with init= the network is the "
                          f"init's ({', '.join(f'{k}={v}' for k, v in pre.space.config().items())}).")
    return pre


def _compare_scratch(ctx: RunContext, seed: int, pre: Any, tuning: Any, tuned: Any, data: Any,
                     trainer: TrainConfig, device: Any, results: dict[str, Any]) -> None:
    """Train the same network from random init with the same recipe; report both side by side."""
    seed_everything(seed)
    scratch = finetune.scratch_network(pre, data)
    with progress(ctx.console) as bar:
        task = bar.add_task("scratch", total=trainer.epochs, info="val -")
        history = train(scratch, data, trainer, device, seed=seed,
                        on_epoch=lambda epoch: bar.update(task, advance=1, info=f"val {epoch['val_accuracy']:.2f}%"))
    test_acc, _ = accuracy(scratch, data.test, data, trainer.eval_batch_size, device)
    params = sum(p.numel() for p in scratch.parameters())
    rows = [
        {"run": f"fine-tune ({tuning.mode})", "init": pre.source["kind"], "val_accuracy": results["val_accuracy"],
         "test_accuracy": results["test_accuracy"], "trainable_params": tuned.trainable, "total_params": tuned.total,
         "train_s": results["train_s"]},
        {"run": "scratch", "init": "random", "val_accuracy": history[-1]["val_accuracy"] if history else None,
         "test_accuracy": test_acc, "trainable_params": params, "total_params": params,
         "train_s": sum(h["epoch_s"] for h in history)},
    ]
    ctx.report.results["scratch"] = {k: v for k, v in rows[1].items() if k not in ("run", "init")}
    columns = list(rows[0])
    ctx.report.sections.append(("Fine-tuning vs scratch", markdown_table(rows, columns)))
    ctx.console.print(table("fine-tuning vs scratch", rows, columns))


def _finish(ctx: RunContext, model: Any, data: Any, trainer: TrainConfig, device: Any,
            history: list[dict[str, float]], genotype: dict[str, Any], draw: bool) -> dict[str, Any]:
    last = history[-1] if history else {}
    if is_text(data):
        return _finish_text(ctx, model, data, trainer, device, history, genotype, draw, last)
    test_acc, test_loss = accuracy(model, data.test, data, trainer.eval_batch_size, device)
    results = {
        "val_accuracy": last.get("val_accuracy"), "train_accuracy": last.get("train_accuracy"),
        "test_accuracy": test_acc, "test_loss": test_loss, "params_m": cost.params_m(model),
        "flops_m": cost.flops_m(model, (data.in_channels, data.input_size, data.input_size)),
        "train_s": sum(h["epoch_s"] for h in history),
    }
    ctx.report.results.update({**results, "checkpoint": FILENAME, "data": data.describe()})
    if draw and history:
        run_plots.training_curves(history, ctx.run_dir / "training_curves.png", f"retrain {genotype['arch_str'][:60]}")
        ctx.report.sections.append(("Training curves", "![training curves](training_curves.png)"))
    ctx.report.sections.append(("Results", markdown_table([results], list(results))))
    ctx.report.sections.append(("Per epoch", markdown_table(history, COLUMNS)))
    ctx.console.print(table("retrain", [results], list(results)))
    ctx.console.print(f"checkpoint: {ctx.run_dir / FILENAME}")
    return results


def _finish_text(ctx: RunContext, model: Any, data: Any, trainer: TrainConfig, device: Any,
                 history: list[dict[str, float]], genotype: dict[str, Any], draw: bool,
                 last: dict[str, float]) -> dict[str, Any]:
    """_finish for token data: test perplexity (language model) or accuracy, params and FLOPs of one sequence."""
    key = "perplexity" if is_lm(data) else "accuracy"
    test = evaluate_text(model, data, data.test, trainer.eval_batch_size, device, prefix="test")
    example = example_tokens(data, data.test)
    results = {f"val_{key}": last.get(f"val_{key}"), f"train_{key}": last.get(f"train_{key}"), **test,
               "params_m": cost.params_m(model),
               "flops_m": cost.flops_m(model, (data.in_channels, data.input_size, data.input_size), example.to(device)),
               "train_s": sum(h["epoch_s"] for h in history)}
    ctx.report.results.update({**results, "checkpoint": FILENAME, "data": data.describe()})
    if draw and history:
        run_plots.training_curves(history, ctx.run_dir / "training_curves.png", f"retrain {genotype['arch_str'][:60]}")
        ctx.report.sections.append(("Training curves", "![training curves](training_curves.png)"))
    ctx.report.sections.append(("Results", markdown_table([results], list(results))))
    ctx.report.sections.append(("Per epoch", markdown_table(history, _columns(data))))
    ctx.console.print(table("retrain", [results], list(results)))
    ctx.console.print(f"checkpoint: {ctx.run_dir / FILENAME}")
    return results
