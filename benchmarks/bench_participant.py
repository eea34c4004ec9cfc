"""A whole participant through ``mrsisr BIDS_DIR OUT participant``: wall time, peak memory, per node.

Generates one full-size synthetic subject (64×64×39 MRSI, 7 metabolites) unless ``--bids-dir`` is
given, runs the participant level with the python backends and one λ, and prints the wall time,
the peak resident memory of the largest process (``ru_maxrss`` of the children: with
``--nprocs 1`` every node runs in that process) and the run time of every Nipype node, read from
the node results in the work directory. The target (issue 16) is checked on the same run: the wall
time against twice the network step (``superres``), the peak RSS against 2 GB.

``--fresh-numba-cache`` gives the run an empty numba cache (``NUMBA_CACHE_DIR``), as on a fresh
install without the container's pre-warmed one: the skull-strip then compiles brainextractor's kernels.

    python benchmarks/bench_participant.py                 # synthesises sub-01 in a temp folder
    python benchmarks/bench_participant.py --bids-dir cohort --participant 03 --keep
"""

from __future__ import annotations

import argparse
import gzip
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe


def node_times(work_dir: Path) -> list[tuple[str, float]]:
    """(node, seconds) for every node result this run wrote (our own files, not user input)."""
    rows = []
    for result in work_dir.rglob("result_*.pklz"):
        with gzip.open(result, "rb") as stream:
            runtime = getattr(pickle.load(stream), "runtime", None)
        duration = getattr(runtime, "duration", None) if runtime is not None else None
        if duration is not None:
            rows.append((result.parent.name, float(duration)))
    return sorted(rows, key=lambda row: -row[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bids-dir", type=Path, help="an existing dataset (default: synthesise one subject)")
    parser.add_argument("--participant", default="01")
    parser.add_argument("--nprocs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="--omp-nthreads of the run")
    parser.add_argument("--keep", action="store_true", help="keep the output and work folders")
    parser.add_argument("--fresh-numba-cache", action="store_true", help="run with an empty numba cache")
    args = parser.parse_args()
    print(describe(args.threads))
    root = Path(tempfile.mkdtemp(prefix="mrsisr-bench-"))
    bids_dir = args.bids_dir
    if bids_dir is None:
        from mrsisr.synth import generate_dataset  # in this process, so its memory is not counted

        bids_dir = generate_dataset(root / "bids", subjects=1, seed=7, formats=("nifti",))
    command = [sys.executable, "-m", "mrsisr.bids_app.cli", str(bids_dir), str(root / "out"), "participant",
               "--participant-label", args.participant, "--skip-bids-validation", "--backend", "python",
               "--device", "cpu", "--nprocs", str(args.nprocs), "--omp-nthreads", str(args.threads),
               "-w", str(root / "work")]
    env = dict(os.environ, NUMBA_CACHE_DIR=str(root / "numba")) if args.fresh_numba_cache else None
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if completed.returncode:
        print(completed.stdout[-3000:], completed.stderr[-3000:])
        raise SystemExit(f"the participant run failed with exit code {completed.returncode}")
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
    print(f"| participant | wall (s) | peak RSS (GB) |\n| --- | --- | --- |\n| sub-{args.participant} | {wall:.1f} | {peak_gb:.2f} |")
    times = node_times(root / "work")
    print("\n| node | seconds |\n| --- | --- |")
    for name, seconds in times:
        print(f"| {name} | {seconds:.1f} |")
    network = sum(seconds for name, seconds in times if name == "superres")
    outside = wall - sum(seconds for _, seconds in times)
    verdict = "met" if wall <= 2 * network and peak_gb <= 2 else "NOT met"
    print(f"\nwall {wall:.1f} s = {wall / max(network, 1e-9):.2f} × the superres step ({network:.1f} s); "
          f"{outside:.1f} s outside the nodes (start-up, graph, scheduler, reports); "
          f"target wall ≤ 2 × superres and peak RSS ≤ 2 GB: {verdict}")
    print(f"\noutputs in {root}" if args.keep else "")
    if not args.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
