"""Issue 14's acceptance table from the evaluation folders of ``benchmarks/retrain14_evaluate.sh``.

    python benchmarks/retrain14_summary.py benchmarks/results/retrain14 --model augmented --before default-11ep

Reads ``<folder>/<name>/{sweep,fidelity,without_flair,uncertainty}/*.json`` (written by
``mrsisr-evaluate``) and prints, for the model and the network it replaces, each acceptance figure
next to its limit, with pass/fail. Nothing is recomputed: the figures are those of the JSON files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ZERO_FILL = "zero-fill"


def _load(folder: Path, name: str, part: str, file: str) -> dict | None:
    path = folder / name / part / file
    return json.loads(path.read_text()) if path.is_file() else None


def _pick(rows: list[dict], **where) -> list[dict]:
    return [row for row in rows if all(row.get(key) == value for key, value in where.items())]


def _mean(rows: list[dict], value: str) -> float:
    values = [row[value] * row.get("count", 1) for row in rows]
    return sum(values) / sum(row.get("count", 1) for row in rows) if rows else float("nan")


def reconstruction_lines(sweep: dict, method: str) -> list[str]:
    """PSNR/SSIM over zero-filling at n = 16 and 32 (λ = 0), and the λ sweep's monotonicity."""
    lines = []
    for n, psnr_gain, ssim_gain in ((16, 2.0, 0.02), (32, 0.0, 0.0)):
        model, zero = _pick(sweep["per_n"], method=method, n=n), _pick(sweep["per_n"], method=ZERO_FILL, n=n)
        if not model or not zero:
            continue
        dpsnr, dssim = model[0]["psnr"] - zero[0]["psnr"], model[0]["ssim"] - zero[0]["ssim"]
        ok = dpsnr >= psnr_gain and dssim >= ssim_gain
        lines.append(f"| n = {n}: PSNR / SSIM over zero-filling | {model[0]['psnr']:.2f} dB / {model[0]['ssim']:.3f} "
                     f"({dpsnr:+.2f} dB / {dssim:+.3f}) | ≥ {psnr_gain:+.1f} dB / ≥ {ssim_gain:+.2f} | "
                     f"{'pass' if ok else 'FAIL'} |")
    sweep_rows = sorted(_pick(sweep["per_lambda"], method=method), key=lambda row: row["lam"])
    if len(sweep_rows) > 1:
        psnr = [row["psnr"] for row in sweep_rows]
        sharp = [row["sharpness"] for row in sweep_rows]
        ok = all(b <= a for a, b in zip(psnr, psnr[1:])) and all(b >= a for a, b in zip(sharp, sharp[1:]))
        lams = ", ".join(f"{row['lam']:g}" for row in sweep_rows)
        lines.append(f"| λ sweep ({lams}): PSNR falls, sharpness rises | PSNR {' → '.join(f'{v:.2f}' for v in psnr)}; "
                     f"sharpness {' → '.join(f'{v:.4f}' for v in sharp)} (in all {psnr[-1] - psnr[0]:+.2f} dB, "
                     f"{100 * (sharp[-1] / sharp[0] - 1):+.1f} %) | monotonic | {'pass' if ok else 'FAIL'} |")
    return lines


def fidelity_lines(fidelity: dict, method: str, label: str = "") -> list[str]:
    """The 10 mm MRI-occult tCho lesion vs zero-filling, and the MRI-only leak, per n and λ."""
    lines = []
    for n in fidelity["settings"]["matrix_sizes"]:
        for lam in fidelity["settings"]["sharpness"]:
            lesion = _pick(fidelity["lesions"], method=method, n=n, lam=lam, metabolite="tCho", size_mm=10.0)
            zero = _pick(fidelity["lesions"], method=ZERO_FILL, n=n, lam=0.0, metabolite="tCho", size_mm=10.0)
            if lesion and zero:
                peak, shape = lesion[0]["peak"], lesion[0]["shape_error"]
                ok = peak >= zero[0]["peak"] and shape <= zero[0]["shape_error"]
                lines.append(f"| {label}n = {n}, λ = {lam:g}: 10 mm tCho lesion, peak / shape error | "
                             f"{peak:.3f} / {shape:.3f} (zero-filling {zero[0]['peak']:.3f} / {zero[0]['shape_error']:.3f}) "
                             f"| ≥ / ≤ zero-filling | {'pass' if ok else 'FAIL'} |")
            leaks = _pick(fidelity["leaks"], method=method, n=n, lam=lam)
            if leaks:
                worst = max(leaks, key=lambda row: row["leak"])
                mean, far = _mean(leaks, "leak"), _mean(leaks, "leak_far")
                lines.append(f"| {label}n = {n}, λ = {lam:g}: MRI-only lesion leak (mean over metabolites; worst) | "
                             f"{100 * mean:.1f} %; {worst['metabolite']} {100 * worst['leak']:.1f} % (far: {100 * far:.1f} %) "
                             f"| ≤ 10 % | {'pass' if worst['leak'] <= 0.10 else 'FAIL'} |")
    return lines


def without_flair_lines(sweep: dict, without: dict, method: str) -> list[str]:
    """T1w-only input within 1 dB of T1w + FLAIR (n = 16, λ = 0)."""
    with_flair = _pick(sweep["per_n"], method=method, n=16)
    alone = _pick(without["per_n"], method=method, n=16)
    if not with_flair or not alone:
        return []
    drop = with_flair[0]["psnr"] - alone[0]["psnr"]
    return [f"| n = 16: T1w-only input (FLAIR replaced by the T1w) | {alone[0]['psnr']:.2f} dB ({-drop:+.2f} dB "
            f"vs T1w + FLAIR) | within 1 dB | {'pass' if abs(drop) <= 1.0 else 'FAIL'} |"]


def uncertainty_lines(uncertainty: dict, method: str) -> list[str]:
    """Spearman ρ of the uncertainty with the absolute error per metabolite, and its rise at lesions."""
    lines = []
    for lam in uncertainty["settings"]["sharpness"]:
        rows = _pick(uncertainty["ranking"], method=method, lam=lam)
        if rows:
            values = ", ".join(f"{row['metabolite']} {row['spearman_rho']:.2f}" for row in rows)
            ok = all(row["spearman_rho"] > 0 for row in rows)
            lines.append(f"| λ = {lam:g}: uncertainty, Spearman ρ with the absolute error | {values} | > 0 for each | "
                         f"{'pass' if ok else 'FAIL'} |")
        features = _pick(uncertainty["features"], method=method, lam=lam)
        if features:
            values = ", ".join(f"{row['metabolite']} ×{row['increase']:.2f}" for row in features)
            lines.append(f"| λ = {lam:g}: uncertainty at an MRI-occult 10 mm lesion / the same site without it | "
                         f"{values} | > 1 (reported) | |")
    return lines


def acceptance_table(folder: Path, name: str) -> str:
    """The markdown acceptance table of one network."""
    lines = [f"### {name}", "", "| criterion | measured | limit | |", "| --- | --- | --- | --- |"]
    # a one-pass evaluation (sweep and probes in one folder, benchmarks/lambda_path_cpu.sh) has no sweep/
    sweep = _load(folder, name, "sweep", "summary.json") or _load(folder, name, "fidelity", "summary.json")
    if sweep:
        lines += reconstruction_lines(_with_baselines(folder, sweep, "sweep", "summary.json"), name)
    fidelity = _load(folder, name, "fidelity", "fidelity.json")
    if fidelity:
        lines += fidelity_lines(_with_baselines(folder, fidelity, "fidelity", "fidelity.json"), name)
    without = _load(folder, name, "without_flair", "summary.json")
    if sweep and without:
        lines += without_flair_lines(sweep, without, name)
    without_fidelity = _load(folder, name, "without_flair", "fidelity.json")
    if without_fidelity:
        lines += fidelity_lines(_with_baselines(folder, without_fidelity, "without_flair", "fidelity.json"), name,
                                "T1w-only, ")
    uncertainty = _load(folder, name, "uncertainty", "uncertainty.json")
    if uncertainty:
        lines += uncertainty_lines(uncertainty, name)
    return "\n".join(lines)


def _with_baselines(folder: Path, result: dict, part: str, file: str) -> dict:
    """Add the zero-filling rows of the run that evaluated the baselines (the --before network's)."""
    if any(row.get("method") == ZERO_FILL for key in ("per_n", "lesions") for row in result.get(key, [])):
        return result
    for other in folder.iterdir():
        baseline = _load(folder, other.name, part, file) if other.is_dir() else None
        if baseline and any(row.get("method") == ZERO_FILL for key in ("per_n", "lesions") for row in baseline.get(key, [])):
            merged = dict(result)
            for key in ("per_n", "per_lambda", "lesions", "leaks"):
                if key in result:
                    merged[key] = result[key] + [row for row in baseline.get(key, []) if row.get("method") == ZERO_FILL]
            return merged
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--model", required=True, help="the evaluated network's name (a subfolder)")
    parser.add_argument("--before", help="the network it replaces (a subfolder), shown too")
    args = parser.parse_args(argv)
    for name in filter(None, (args.model, args.before)):
        print(acceptance_table(args.folder, name), end="\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
