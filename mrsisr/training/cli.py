"""``mrsisr-train``: train any network variant on prepared slices.

Examples::

    mrsisr-train prepared/ runs/mcm --variant mcm --epochs 100            # the paper's recipe
    mrsisr-train prepared/ runs/fs --variant filter-scaling-met --max-steps 2000 --folds 5 --fold 2
    torchrun --nproc_per_node 4 -m mrsisr.training.cli prepared/ runs/mcm  # several GPUs (DDP)
    mrsisr-train prepared/ runs/mcm --mri-lesions 0.5 --metabolic-lesions 0.5 --flair-drop 0.2  # issue 14
    mrsisr-train prepared/ runs/tuned --init-weights default --epochs 10     # fine-tune the packaged model

Interrupt at any time: running the same command again resumes from ``OUT_DIR/checkpoint.pt``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mrsisr import TRAINED_MATRIX_SIZES
from mrsisr.inference import DEFAULT_WEIGHTS
from mrsisr.models import VARIANT_TABLE
from mrsisr.models.weights import read_metadata
from mrsisr.slices import load_dataset
from mrsisr.training.trainer import CRITIC_INPUTS, TRAINABLE_PARTS, TrainConfig, Trainer

__all__ = ["main", "parse_args"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mrsisr-train", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, help="folder of <subject>_slices.npz prepared-slice files")
    parser.add_argument("out_dir", type=Path, help="where weights, model card, logs and checkpoint go")
    parser.add_argument("--variant", choices=tuple(VARIANT_TABLE), default="mcm")
    recipe = parser.add_argument_group("recipe (defaults: the paper's)")
    recipe.add_argument("--epochs", type=int, default=100)
    recipe.add_argument("--max-steps", type=int, default=None, help="stop after this many generator steps")
    recipe.add_argument("--batch-size", type=int, default=8)
    recipe.add_argument("--learning-rate", type=float, default=1e-4,
                        help="Adam's step (generator and critic); given anew when resuming, it replaces the "
                             "saved one and keeps the decays made so far")
    recipe.add_argument("--decay-every", type=int, default=40, help="epochs between ×0.5 learning-rate decays")
    recipe.add_argument("--adversarial", action=argparse.BooleanOptionalAction, default=None,
                        help="WGAN-GP term conditioned on λ (default: on for mcm only)")
    recipe.add_argument("--lam-max", type=float, default=0.1)
    recipe.add_argument("--lam-zero-fraction", type=float, default=0.1, metavar="F",
                        help="share of the adversarial run's batches at λ = 0 (reconstruction only), which hold the "
                             "λ = 0 network in place")
    recipe.add_argument("--critic-steps", type=int, default=5)
    recipe.add_argument("--critic-inputs", choices=CRITIC_INPUTS, default="mri+maps",
                        help="what the critic sees: the MRI blocks and the maps (the paper's), or the maps alone, "
                             "so that following the MRI's edges cannot make a map look real to it")
    recipe.add_argument("--trainable", choices=TRAINABLE_PARTS, default="all",
                        help="which generator parameters train: all, or sharpness (only the λ path, the CIN MLPs; "
                             "an adversarial fine-tune of --init-weights that keeps the rest of the network)")
    recipe.add_argument("--pin-lambda-zero", action="store_true",
                        help="with --trainable sharpness: keep the network at λ = 0 exactly that of --init-weights "
                             "(the λ path's output at λ = 0 is put back after every step), so that only λ > 0 "
                             "learns to sharpen")
    recipe.add_argument("--matrix-sizes", type=int, nargs="+", default=list(TRAINED_MATRIX_SIZES))
    recipe.add_argument("--no-augment", dest="augment", action="store_false", help="no augmentation at all")
    shortcut = parser.add_argument_group("augmentations against the MRI→map shortcut (per-sample probabilities; "
                                         "default 0: off)")
    shortcut.add_argument("--mri-lesions", type=float, default=0.0, metavar="P",
                          help="add a FLAIR-bright/T1w-dark lesion (3–15 mm) to the MRI only, maps untouched")
    shortcut.add_argument("--metabolic-lesions", type=float, default=0.0, metavar="P",
                          help="add a hot or cold lesion (4–20 mm) to the map (and its LR input) only, MRI untouched")
    shortcut.add_argument("--lesion-focus", type=float, default=0.0, metavar="W",
                          help="add W × the mean absolute error near the injected lesions to the loss "
                               "(needs --mri-lesions or --metabolic-lesions)")
    shortcut.add_argument("--mri-invariance", type=float, default=0.0, metavar="W",
                          help="add W × the mean change an MRI-only lesion causes in the map near it (the "
                               "network run again without the lesion) to the loss (needs --mri-lesions)")
    shortcut.add_argument("--flair-drop", type=float, default=0.0, metavar="P",
                          help="replace the FLAIR by the app's substitute for a missing FLAIR (the T1w)")
    split = parser.add_argument_group("cross-validation")
    split.add_argument("--folds", type=int, default=5, help="subject-wise folds (1: train on everyone)")
    split.add_argument("--fold", type=int, default=0, help="test fold; the next fold validates")
    model = parser.add_argument_group("network size")
    model.add_argument("--base-features", type=int, default=8)
    model.add_argument("--latent-width", type=int, default=32)
    model.add_argument("--sharpness-width", type=int, default=64)
    run = parser.add_argument_group("run")
    run.add_argument("--device", default="auto", help="auto, cpu or cuda")
    run.add_argument("--no-amp", dest="amp", action="store_false", help="no bfloat16 autocast on CUDA")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                     help="stop (checkpointed, weights written) after this much training time; rerun to resume")
    run.add_argument("--workers", type=int, default=None,
                     help="batch-assembling loader processes (default: 4 on CUDA, 0 on CPU)")
    run.add_argument("--device-data", action="store_true",
                     help="keep the training set on the device and augment there (GPU; no loader workers)")
    run.add_argument("--graph-capture", action="store_true", help="CUDA only: capture the passes as CUDA graphs")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--init-weights", default=None, metavar="PATH",
                     help="start from these safetensors weights ('default': the packaged model) instead of a "
                          "random initialisation; same variant and size as this run")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (usage errors exit with code 2); ``config`` holds the :class:`TrainConfig`."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        args.config = _config(args)
    except ValueError as error:
        parser.error(str(error))
    return args


def _init_weights(value: str | None) -> str | None:
    """The weights to start from, checked before any data is read ('default': the packaged model)."""
    if value is None:
        return None
    path = DEFAULT_WEIGHTS if value == "default" else Path(value)
    read_metadata(path)  # a WeightsError (ValueError) naming the file when it is not mrsisr weights
    return str(path)


def _config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        variant=args.variant,
        model={"base_features": args.base_features, "latent_width": args.latent_width,
               "sharpness_width": args.sharpness_width},
        epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size,
        learning_rate=args.learning_rate, decay_every=args.decay_every, adversarial=args.adversarial,
        lam_max=args.lam_max, lam_zero_fraction=args.lam_zero_fraction, critic_steps=args.critic_steps,
        critic_inputs=args.critic_inputs, matrix_sizes=tuple(args.matrix_sizes),
        folds=args.folds, fold=args.fold, seed=args.seed, device=args.device, amp=args.amp,
        augment=args.augment, mri_lesion_probability=args.mri_lesions,
        metabolic_lesion_probability=args.metabolic_lesions, flair_drop_probability=args.flair_drop,
        lesion_focus_weight=args.lesion_focus, mri_invariance_weight=args.mri_invariance,
        time_limit_s=args.time_limit, workers=args.workers, device_data=args.device_data,
        graph_capture=args.graph_capture, init_weights=_init_weights(args.init_weights), trainable=args.trainable,
        pin_lambda_zero=args.pin_lambda_zero)


def main(argv: list[str] | None = None) -> int:
    """Run ``mrsisr-train``; 0 on success, 2 when the data or the configuration cannot be used."""
    args = parse_args(argv)
    try:
        subjects = load_dataset(args.data_dir)
        card = Trainer(args.config, subjects, args.out_dir).run(progress=not args.quiet)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"mrsisr-train: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({key: card[key] for key in ("variant", "epochs", "steps", "wall_time_s", "device", "metrics")},
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
