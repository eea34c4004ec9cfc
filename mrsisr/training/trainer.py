"""The training engine: the paper's recipe, with checkpoints, resume, logs and a model card.

Recipe (DESIGN.md §5): Adam (lr 1e-4, betas 0.5/0.9), step decay ×0.5 every 40 epochs, batch 8 with
one metabolite, one n (even 16…32) and one λ per batch, loss ``0.16·L1 + 0.84·(1 − MS-SSIM)`` plus,
for the adversarial variants, ``λ·WGAN`` with gradient penalty 10 and five critic steps per generator
step (every batch trains the critic; every fifth batch also trains the generator). λ is uniform in
[0, 0.1] with 10 % of batches at 0.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import time
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from mrsisr import TRAINED_MATRIX_SIZES, __version__
from mrsisr.losses import critic_loss, generator_loss
from mrsisr.metrics import map_metrics, sharpness
from mrsisr.models import build, variant_spec
from mrsisr.models.conditioning import SharpnessOrigin, sharpness_parameters
from mrsisr.models.unet import upsample_to_depth3
from mrsisr.models.runtime import resolve_device, tune_cpu_allocator
from mrsisr.models.weights import load_model, save_weights, sha256
from mrsisr.slices import SubjectSlices, kfold_split
from mrsisr.training.data import Batch, BatchSampler, make_batch
from mrsisr.training.device_data import DeviceBatches, DeviceDataset
from mrsisr.training.lesions import LesionAugmentation, augmentations_record

#: Generator steps between progress-bar loss updates (reading a loss waits for the device).
PROGRESS_EVERY = 20
#: What ``TrainConfig.trainable`` may name.
TRAINABLE_PARTS = ("all", "sharpness")
#: What the critic may be shown: the MRI blocks with the maps (the paper's), or the maps alone.
CRITIC_INPUTS = ("mri+maps", "maps")

__all__ = ["TrainConfig", "Trainer"]


class _Mapped(torch.utils.data.Dataset):
    """``dataset[i] = function(indices[i])``: lets a DataLoader's workers build whole batches."""

    def __init__(self, indices: list[int], function) -> None:
        self.indices, self.function = indices, function

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int):
        return self.function(self.indices[position])


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (stored in checkpoints and the model card)."""

    variant: str = "mcm"
    model: dict[str, Any] = field(default_factory=dict)
    epochs: int = 100
    max_steps: int | None = None
    batch_size: int = 8
    learning_rate: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.9)
    decay_every: int = 40
    decay_factor: float = 0.5
    adversarial: bool | None = None
    lam_max: float = 0.1
    lam_zero_fraction: float = 0.1
    critic_steps: int = 5
    gp_weight: float = 10.0
    alpha: float = 0.84
    matrix_sizes: tuple[int, ...] = TRAINED_MATRIX_SIZES
    folds: int = 5
    fold: int = 0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    augment: bool = True
    #: per-sample probabilities of the shortcut-breaking augmentations (mrsisr.training.lesions; need ``augment``)
    mri_lesion_probability: float = 0.0
    metabolic_lesion_probability: float = 0.0
    flair_drop_probability: float = 0.0
    #: weight of the lesion-focus term: the mean absolute error near the injected lesions (0: off)
    lesion_focus_weight: float = 0.0
    #: weight of the MRI-lesion invariance term: the mean change the MRI-only lesions cause near them (0: off)
    mri_invariance_weight: float = 0.0
    validation_matrix_sizes: tuple[int, ...] | None = None
    time_limit_s: float | None = None
    workers: int | None = None
    #: keep the training set on the device and augment there (mrsisr.training.device_data)
    device_data: bool = False
    #: CUDA only: torch.compile(mode="reduce-overhead") (CUDA graphs) of the generator and critic passes
    graph_capture: bool = False
    #: start the generator from these weights (a safetensors file of the same variant and size) instead
    #: of a random initialisation: fine-tuning; the critic and the optimisers start fresh
    init_weights: str | None = None
    #: which generator parameters train: "all", or "sharpness" (the λ path only: the CIN MLPs and heads
    #: of mrsisr.models.conditioning.sharpness_parameters), for an adversarial fine-tune that leaves the
    #: λ = 0 network's convolutions as they were
    trainable: str = "all"
    #: with ``trainable == "sharpness"``: after every step, put the λ path's output at λ = 0 back to the
    #: initial network's (mrsisr.models.conditioning.SharpnessOrigin), so the λ = 0 network stays the
    #: reconstruction network it was and only λ > 0 learns to sharpen
    pin_lambda_zero: bool = False
    #: the critic's inputs: "mri+maps" (T1w, FLAIR, LR ↑, map ↑: the paper's) or "maps" (LR ↑, map ↑), a
    #: critic that cannot reward a map for following the MRI's edges
    critic_inputs: str = "mri+maps"

    @property
    def validation_sizes(self) -> tuple[int, ...]:
        """Matrix sizes scored on the validation subjects (default: smallest, middle, largest trained)."""
        if self.validation_matrix_sizes:
            return tuple(self.validation_matrix_sizes)
        sizes = sorted(self.matrix_sizes)
        return tuple(sorted({sizes[0], sizes[len(sizes) // 2], sizes[-1]}))

    def __post_init__(self) -> None:
        self.lesions  # refuses an impossible probability when the run is configured, before any work
        if not 0.0 <= self.lam_zero_fraction <= 1.0:
            raise ValueError(f"the share of batches at λ = 0 must be in [0, 1], not {self.lam_zero_fraction}")
        if self.critic_inputs not in CRITIC_INPUTS:
            raise ValueError(f"the critic's inputs must be one of {', '.join(CRITIC_INPUTS)}, not {self.critic_inputs!r}")
        if self.trainable not in TRAINABLE_PARTS:
            raise ValueError(f"trainable must be one of {', '.join(TRAINABLE_PARTS)}, not {self.trainable!r}")
        if self.trainable == "sharpness":
            if not self.init_weights:
                raise ValueError("--trainable sharpness fine-tunes the λ path of a trained network: "
                                 "give its weights with --init-weights")
            if not self.uses_adversarial or not variant_spec(self.variant).uses_lambda:
                raise ValueError(f"--trainable sharpness trains the λ path on the adversarial term: it needs "
                                 f"--adversarial and a variant that takes λ (not {self.variant!r} "
                                 f"{'with' if self.uses_adversarial else 'without'} the adversarial term)")
        if self.pin_lambda_zero and self.trainable != "sharpness":
            raise ValueError("--pin-lambda-zero keeps the λ = 0 network of a λ-path fine-tune: it needs "
                             "--trainable sharpness (training every weight moves the λ = 0 network anyway)")

    @property
    def lesions(self) -> LesionAugmentation:
        """The shortcut-breaking augmentations of this run (all probabilities 0: none)."""
        return LesionAugmentation(self.mri_lesion_probability, self.metabolic_lesion_probability,
                                  self.flair_drop_probability, self.lesion_focus_weight,
                                  self.mri_invariance_weight)

    @property
    def uses_adversarial(self) -> bool:
        """The WGAN term on λ: by default for the variants that take λ as an input (the variants table)."""
        return variant_spec(self.variant).uses_lambda if self.adversarial is None else bool(self.adversarial)


def _critic_input(batch, maps: torch.Tensor, with_mri: bool = True) -> torch.Tensor:
    """(T1w, FLAIR, LR ↑, map ↑) at 3N×3N×3, the critic's 4 channels; (LR ↑, map ↑) without the MRI."""
    blocks = [upsample_to_depth3(batch.lr, 3), upsample_to_depth3(maps, 3)]
    return torch.cat([batch.t1, batch.flair, *blocks] if with_mri else blocks, dim=1)


class Trainer:
    """Train one network on prepared slices; ``run()`` resumes from ``out_dir/checkpoint.pt``."""

    def __init__(self, config: TrainConfig, subjects: list[SubjectSlices], out_dir: str | Path) -> None:
        self.config = config
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.rank = int(os.environ.get("RANK", 0))
        self.world = int(os.environ.get("WORLD_SIZE", 1))
        self.device = resolve_device(config.device)
        if self.device.type == "cpu":
            tune_cpu_allocator()
        if self.world > 1:
            self._init_distributed()
        names = [s.subject for s in subjects]
        self.split = kfold_split(names, config.folds, config.fold)
        self.train_data = [s for s in subjects if s.subject in self.split["train"]]
        self.validation_data = [s for s in subjects if s.subject in self.split["validation"]]
        torch.manual_seed(config.seed + self.rank)
        self.generator = build(config.variant, **config.model).to(self.device)
        if config.init_weights:
            self._initialise_from(config.init_weights)
        self.lambda_zero = SharpnessOrigin(self.generator) if config.pin_lambda_zero else None
        self.sampler = BatchSampler(self.train_data, config.batch_size, config.matrix_sizes,
                                    config.lam_max if config.uses_adversarial else 0.0, config.lam_zero_fraction)
        map_size = self.train_data[0].maps.shape[-1]
        self.critic_sees_mri = config.critic_inputs == "mri+maps"
        self.critic = (build("discriminator", map_size=map_size, in_channels=4 if self.critic_sees_mri else 2)
                       .to(self.device) if config.uses_adversarial else None)
        self.g_opt = torch.optim.Adam(self._trainable_parameters(), config.learning_rate, betas=config.betas)
        self.g_sched = torch.optim.lr_scheduler.StepLR(self.g_opt, config.decay_every, config.decay_factor)
        if self.critic is not None:
            self.d_opt = torch.optim.Adam(self.critic.parameters(), config.learning_rate, betas=config.betas)
            self.d_sched = torch.optim.lr_scheduler.StepLR(self.d_opt, config.decay_every, config.decay_factor)
        self.g_model, self.d_model = self.generator, self.critic
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_model = DistributedDataParallel(self.generator, device_ids=ids)
            # The critic's gradient penalty needs double backward, which DDP's hooks do not support:
            # its gradients are averaged by hand instead (see critic_step).
        self.epoch, self.step, self.batches_seen, self.wall_time = 0, 0, 0, 0.0
        self.history: list[dict[str, Any]] = []
        self.device_dataset = DeviceDataset(self.train_data, self.device) if config.device_data else None
        self._capture()

    def _trainable_parameters(self) -> list[torch.nn.Parameter]:
        """The generator parameters this run trains; the others are frozen (``requires_grad`` off)."""
        if self.config.trainable == "all":
            return list(self.generator.parameters())
        chosen = sharpness_parameters(self.generator)
        keep = {id(parameter) for parameter in chosen}
        for parameter in self.generator.parameters():
            parameter.requires_grad_(id(parameter) in keep)
        return chosen

    def _initialise_from(self, path: str) -> None:
        """Copy a trained network's parameters into the generator (refused unless variant and size agree)."""
        trained = load_model(path)
        if trained.variant != self.config.variant or trained.config.to_dict() != self.generator.config.to_dict():
            raise ValueError(f"--init-weights {path} holds a {trained.variant!r} network with config "
                             f"{trained.config.to_dict()}, but this run trains a {self.config.variant!r} network "
                             f"with config {self.generator.config.to_dict()}: choose weights of the same variant "
                             "and size, or the matching --variant/--base-features/--latent-width/--sharpness-width")
        self.generator.load_state_dict(trained.state_dict())

    def _capture(self) -> None:
        """Opt-in graph capture of the generator and critic passes (CUDA only; eager elsewhere).

        The generator compiles the device part of its forward pass (:meth:`capture_graphs`); the
        critic compiles its scoring of the generator's output. The critic of the gradient penalty
        stays eager: compiled graphs do not support the double backward it needs. bf16 autocast
        applies inside the captured passes as outside.
        """
        self.score_pass = self.d_model
        if not self.config.graph_capture:
            return
        if self.device.type != "cuda":
            warnings.warn(f"graph_capture needs a CUDA device, not {self.device}: training runs eagerly", stacklevel=3)
            return
        self.generator.capture_graphs("reduce-overhead")
        if self.d_model is not None:
            self.score_pass = torch.compile(self.d_model, mode="reduce-overhead")

    def _init_distributed(self) -> None:
        local = int(os.environ.get("LOCAL_RANK", 0))
        if self.device.type == "cuda":
            torch.cuda.set_device(local)
            self.device = torch.device("cuda", local)
        torch.distributed.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    # ----------------------------------------------------------------------------- checkpoints
    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / "checkpoint.pt"

    def save_checkpoint(self) -> None:
        """Everything needed to continue exactly where training stopped (tensors and plain types only)."""
        if self.rank:
            return
        state = {"generator": self.generator.state_dict(), "g_opt": self.g_opt.state_dict(),
                 "g_sched": self.g_sched.state_dict(), "epoch": self.epoch, "step": self.step,
                 "batches_seen": self.batches_seen, "wall_time": self.wall_time,
                 "torch_rng": torch.get_rng_state(),
                 "history": json.dumps(self.history), "config": json.dumps(asdict(self.config))}
        if self.critic is not None:
            state.update(critic=self.critic.state_dict(), d_opt=self.d_opt.state_dict(), d_sched=self.d_sched.state_dict())
        partial = self.checkpoint_path.with_suffix(".part")
        torch.save(state, partial)
        partial.replace(self.checkpoint_path)

    def load_checkpoint(self) -> bool:
        """Resume from ``checkpoint.pt`` if present (loaded with ``weights_only=True``: no unpickling)."""
        if not self.checkpoint_path.exists():
            return False
        state = torch.load(self.checkpoint_path, map_location=self.device, weights_only=True)
        saved = json.loads(state["config"])
        mine = json.loads(json.dumps(asdict(self.config)))
        changed = [key for key in ("variant", "model", "folds", "fold") if saved.get(key) != mine.get(key)]
        if changed:
            raise ValueError(f"{self.checkpoint_path} was written by a different run ({', '.join(changed)} differ); "
                             "use another output directory or delete the checkpoint")
        self.generator.load_state_dict(state["generator"])
        self.g_opt.load_state_dict(state["g_opt"])
        self.g_sched.load_state_dict(state["g_sched"])
        if self.critic is not None and "critic" in state:
            self.critic.load_state_dict(state["critic"])
            self.d_opt.load_state_dict(state["d_opt"])
            self.d_sched.load_state_dict(state["d_sched"])
        if saved.get("learning_rate") != mine["learning_rate"]:
            self._rebase_learning_rate(float(saved["learning_rate"]))
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.batches_seen, self.wall_time = int(state["batches_seen"]), float(state["wall_time"])
        torch.set_rng_state(state["torch_rng"].cpu())
        self.history = json.loads(state["history"])
        return True

    def _rebase_learning_rate(self, saved_rate: float) -> None:
        """Make a resumed run's new ``learning_rate`` the base rate from here on, keeping the decays
        already applied (loading the optimiser's state would otherwise bring back the saved rate)."""
        pairs = [(self.g_opt, self.g_sched)] + ([(self.d_opt, self.d_sched)] if self.critic is not None else [])
        for optimiser, scheduler in pairs:
            for group in optimiser.param_groups:
                group["lr"] *= self.config.learning_rate / saved_rate
                group["initial_lr"] = self.config.learning_rate
            scheduler.base_lrs = [self.config.learning_rate for _ in optimiser.param_groups]

    # ----------------------------------------------------------------------------- steps
    def _autocast(self):
        enabled = self.config.amp and self.device.type == "cuda"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def _forward(self, batch, clean_mri: bool = False) -> torch.Tensor:
        """The generator's maps for ``batch`` (with ``clean_mri``: for its MRI without the MRI-only lesions)."""
        t1, flair = (batch.t1_clean, batch.flair_clean) if clean_mri else (batch.t1, batch.flair)
        with self._autocast():
            output = self.g_model(t1, flair, batch.lr, batch.n, batch.metabolite, batch.lam)
        return output.float() * batch.mask

    def critic_step(self, batch) -> torch.Tensor:
        with torch.no_grad():
            fake = self._forward(batch)
        real = _critic_input(batch, batch.target * batch.mask, self.critic_sees_mri)
        loss, distance = critic_loss(self.d_model, real, _critic_input(batch, fake, self.critic_sees_mri),
                                     self.config.gp_weight)
        self.d_opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.world > 1:
            for parameter in self.critic.parameters():
                torch.distributed.all_reduce(parameter.grad)
                parameter.grad /= self.world
        self.d_opt.step()
        return distance

    def generator_step(self, batch) -> dict[str, torch.Tensor]:
        reference = None
        if batch.t1_clean is not None:
            with torch.no_grad():
                reference = self._forward(batch, clean_mri=True)
        output = self._forward(batch)
        scores = self.score_pass(_critic_input(batch, output, self.critic_sees_mri)) if self.critic is not None else None
        loss, parts = generator_loss(output, batch.target, batch.mask, self.config.alpha, scores,
                                     batch.lam.to(self.device, non_blocking=True) if scores is not None else None,
                                     batch.focus, self.config.lesion_focus_weight,
                                     reference, self.config.mri_invariance_weight)
        self.g_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.g_opt.step()
        if self.lambda_zero is not None:
            self.lambda_zero.restore()
        return parts

    # ----------------------------------------------------------------------------- loop
    def _done(self) -> bool:
        cfg = self.config
        return self.epoch >= cfg.epochs or (cfg.max_steps is not None and self.step >= cfg.max_steps)

    def _batches(self) -> torch.utils.data.DataLoader:
        """This process's batches of the current epoch, assembled (and augmented) by loader workers.

        The plan depends on (seed, epoch) only and each batch's augmentation on (seed, epoch, batch),
        so every process agrees on the plan and results do not depend on the number of workers.
        """
        cfg = self.config
        plan = self.sampler.epoch(np.random.default_rng([cfg.seed, self.epoch]))
        plan = plan[: len(plan) // self.world * self.world]
        indices = list(range(self.rank, len(plan), self.world))
        epoch = self.epoch
        if self.device_dataset is not None:
            return DeviceBatches(self.device_dataset, plan, indices, cfg.seed, epoch, cfg.augment, cfg.lesions)
        lesions = cfg.lesions

        def assemble(index: int) -> Batch:
            items, n, lam = plan[index]
            rng = np.random.default_rng([cfg.seed, epoch, index]) if cfg.augment else None
            return make_batch(items, n, lam, rng, lesions)

        workers = cfg.workers if cfg.workers is not None else (4 if self.device.type == "cuda" else 0)
        return torch.utils.data.DataLoader(_Mapped(indices, assemble), batch_size=None, shuffle=False,
                                           num_workers=workers, pin_memory=self.device.type == "cuda",
                                           persistent_workers=False, prefetch_factor=4 if workers else None)

    def run(self, progress: bool = True) -> dict[str, Any]:
        """Train until ``epochs``, ``max_steps`` or ``time_limit_s``; checkpoint every epoch; write weights."""
        self.load_checkpoint()
        cfg = self.config
        session_start = time.perf_counter()
        out_of_time = False
        while not self._done() and not out_of_time:
            start = time.perf_counter()
            logged: dict[str, list[torch.Tensor]] = defaultdict(list)  # on the device: read once per epoch

            loader = self._batches()
            bar = tqdm(loader, desc=f"epoch {self.epoch + 1}/{cfg.epochs}", disable=not progress or self.rank > 0,
                       leave=False, unit="batch")
            for batch in bar:
                batch = batch.to(self.device)
                if self.config.graph_capture and self.device.type == "cuda":
                    torch.compiler.cudagraph_mark_step_begin()  # the previous step's graph outputs are done with
                self.batches_seen += 1
                if self.critic is not None:
                    logged["critic_distance"].append(self.critic_step(batch))
                if self.critic is None or self.batches_seen % cfg.critic_steps == 0:
                    parts = self.generator_step(batch)
                    for key, value in parts.items():
                        logged[key].append(value)
                    self.step += 1
                    if self.step % PROGRESS_EVERY == 0 and not bar.disable:  # reading the loss waits for the GPU
                        bar.set_postfix(loss=f"{float(parts['loss']):.4f}")
                out_of_time = cfg.time_limit_s is not None and time.perf_counter() - session_start > cfg.time_limit_s
                if (cfg.max_steps is not None and self.step >= cfg.max_steps) or out_of_time:
                    break
            self.wall_time += time.perf_counter() - start
            if out_of_time:  # an unfinished epoch: keep its counter, so a resume starts it again
                self.save_checkpoint()
                break
            self.g_sched.step()
            if self.critic is not None:
                self.d_sched.step()
            self.epoch += 1
            record = {"epoch": self.epoch, "step": self.step, "wall_time_s": round(self.wall_time, 2),
                      "learning_rate": self.g_opt.param_groups[0]["lr"],
                      **{key: float(torch.stack(values).mean()) for key, values in logged.items()}}
            record.update(self.validate())
            self.history.append(record)
            self._write_logs()
            self.save_checkpoint()
        card = self.finish()
        if self.world > 1:
            torch.distributed.destroy_process_group()
        return card

    @torch.no_grad()
    def validate(self, max_maps: int = 64) -> dict[str, float]:
        """Mean PSNR/SSIM/sharpness of the validation subjects at a few n and λ = 0, and for runs with
        the adversarial term the PSNR and sharpness at λ = ``lam_max`` too (``*_lam_max``), which show
        whether λ has started to change the maps (empty without validation data)."""
        if not self.validation_data:
            return {}
        self.generator.eval()
        lams = {"": 0.0}
        if self.config.uses_adversarial and self.config.lam_max > 0:
            lams["_lam_max"] = self.config.lam_max
        scores: dict[str, list[float]] = defaultdict(list)
        sampler = BatchSampler(self.validation_data, self.config.batch_size)
        rng = np.random.default_rng(0)
        for n in self.config.validation_sizes:
            for items, _, _ in sampler.epoch(rng)[: max(1, max_maps // self.config.batch_size)]:
                batch = make_batch(items, n, 0.0).to(self.device)  # built once, run at every λ
                targets, masks = batch.target.cpu().numpy(), batch.mask.cpu().numpy()
                for suffix, lam in lams.items():
                    output = self._forward(replace(batch, lam=torch.full_like(batch.lam, lam)))
                    for out, ref, mask in zip(output.cpu().numpy(), targets, masks):
                        psnr, ssim = map_metrics(out[0], ref[0], mask[0])
                        scores[f"val_psnr{suffix}"].append(psnr)
                        scores[f"val_sharpness{suffix}"].append(sharpness(out[0], mask[0] > 0))
                        if not suffix:
                            scores["val_ssim"].append(ssim)
        self.generator.train()
        return {key: float(np.mean(values)) for key, values in scores.items()}

    def _write_logs(self) -> None:
        if self.rank:
            return
        keys = sorted({key for record in self.history for key in record}, key=lambda k: (k != "epoch", k != "step", k))
        with open(self.out_dir / "log.csv", "w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.history)
        (self.out_dir / "log.json").write_text(json.dumps(self.history, indent=1))

    def finish(self) -> dict[str, Any]:
        """Write ``model.safetensors`` and its model card ``model.json``; return the card."""
        card = {
            "name": f"mrsisr-{self.config.variant}",
            "variant": self.config.variant,
            "model_config": self.generator.config.to_dict(),
            "parameters": sum(p.numel() for p in self.generator.parameters()),
            "trained_parameters": sum(p.numel() for p in self.generator.parameters() if p.requires_grad),
            "training": asdict(self.config),
            "augmentations": augmentations_record(self.config.augment, self.config.lesions),
            "initialised_from": ({"weights": self.config.init_weights, "sha256": sha256(self.config.init_weights)}
                                 if self.config.init_weights else None),
            "data": {"split": self.split,
                     "train_maps": int(sum(s.maps.shape[0] * s.maps.shape[1] for s in self.train_data)),
                     "map_size": int(self.train_data[0].maps.shape[-1])},
            "epochs": self.epoch, "steps": self.step, "wall_time_s": round(self.wall_time, 1),
            "device": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else platform.processor() or "cpu",
            "processes": self.world, "torch": torch.__version__, "mrsisr": __version__,
            "metrics": self.history[-1] if self.history else {},
        }
        if self.rank == 0:
            save_weights(self.generator, self.out_dir / "model.safetensors",
                         extra={"augmentations": json.dumps(card["augmentations"])})
            (self.out_dir / "model.json").write_text(json.dumps(card, indent=2))
        return card
