"""Inference on volumes, the SuperResolve and ExportSlices nodes, and the evaluation command."""

import json

import nibabel as nib
import numpy as np
import pytest
import torch
from nipype import IdentityInterface, Node, Workflow

from mrsisr import kspace
from mrsisr.evaluation import cli as evaluate_cli
from mrsisr.inference import load_for_inference, output_mask, super_resolve_volume
from mrsisr.interfaces.export import ExportSlices
from mrsisr.interfaces.superres import SuperResolve
from mrsisr.models import build
from mrsisr.models.weights import save_weights
from mrsisr.slices import load_subject

N, Z = 16, 4
METS = ["NAA", "tCho"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    save_weights(build("mcm", base_features=2, latent_width=4, sharpness_width=4), path)
    path.with_suffix(".json").write_text(json.dumps({"placeholder": True, "description": "tiny test network"}))
    return path


@pytest.fixture
def subject(tmp_path):
    """A 16×16×4 high-resolution MRSI volume with quality mask and 3× MRI (1 mm = 3.4/3)."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:N, :N]
    base = np.exp(-((yy - 8) ** 2 + (xx - 7) ** 2) / 20.0)
    maps = np.stack([np.stack([base * (2 + m) * (1 + 0.1 * z) for m in range(2)], -1) for z in range(Z)], 2)
    mask = np.ones(maps.shape, np.uint8)
    mask[:2] = 0
    affine = np.diag([3.4, 3.4, 3.4, 1.0])
    mri = np.repeat(np.repeat(np.repeat(maps[..., 0], 3, 0), 3, 1), 3, 2) + 0.05 * rng.random((3 * N, 3 * N, 3 * Z))
    files = {}
    for name, data, aff in (("maps", maps, affine), ("mask", mask, affine), ("t1", mri, np.diag([3.4 / 3] * 3 + [1])),
                            ("flair", 1 - mri / mri.max(), np.diag([3.4 / 3] * 3 + [1]))):
        files[name] = tmp_path / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(data.astype(np.float32), aff), files[name])
    return files, maps, mask, mri


def test_volume_super_resolution_shapes_masks_and_units(weights, subject):
    _, maps, mask, mri = subject
    model, info = load_for_inference(weights, "cpu")
    assert info.placeholder and len(info.sha256) == 64
    with pytest.warns(UserWarning, match="acquired matrix 8 is outside the trained sizes"):
        result = super_resolve_volume(model, maps, mask, mri, 1 - mri, [1, 2], METS, [0.0, 0.05], N, simulate_matrix=8)
    assert result["sr"].shape == (2, N, N, Z, 2) and result["n"] == 8
    assert not result["sr"][:, :, :, [0, 3]].any()  # unselected slices stay empty
    assert not result["sr"][:, :2].any()  # rejected voxels stay empty
    # data consistency: the SR map keeps the measured centre of k-space (in physical units)
    lr = kspace.truncate((maps * mask)[:, :, 1, 0], 8)
    np.testing.assert_allclose(result["zero_filled"][2:, :, 1, 0], lr[2:], rtol=1e-4, atol=1e-5)
    assert 0.2 < result["sr"][0, 2:, :, 1, 0].max() / lr.max() < 5


def test_acquired_low_resolution_grid_is_zero_filled(weights, subject):
    _, maps, mask, mri = subject
    acquired = np.abs(np.stack([np.stack([kspace.crop_acquisition(maps[:, :, z, m], 8) for m in range(2)], -1)
                                for z in range(Z)], 2))
    model, _ = load_for_inference(weights, "cpu")
    with pytest.warns(UserWarning, match="outside the trained sizes"):
        result = super_resolve_volume(model, acquired, np.ones_like(acquired, np.uint8), mri, mri, [0], METS, [0.0], N)
    assert result["n"] == 8 and result["sr"].shape == (1, N, N, Z, 2)
    np.testing.assert_allclose(result["zero_filled"][:, :, 0, 0], kspace.zero_fill(acquired[:, :, 0, 0], N), atol=1e-4)


def test_output_mask_uses_the_nearest_coarse_voxel():
    mask = np.zeros((4, 4), bool)
    mask[2, 2] = True  # the centre voxel of a 4-grid covers fine voxels 7..8 of a 16-grid (factor 4, centred)
    fine = output_mask(mask, 4, 16)
    assert fine.sum() == 16 and fine[6:10, 6:10].all()


def test_trained_range_warning(weights, subject):
    _, maps, mask, mri = subject
    model, _ = load_for_inference(weights, "cpu")
    with pytest.warns(UserWarning, match="outside the trained sizes"):
        super_resolve_volume(model, maps, mask, mri, mri, [0], METS, [0.0], N, simulate_matrix=6)


@pytest.mark.filterwarnings("ignore:acquired matrix 8 is outside:UserWarning")  # a 16×16 test grid
def test_superresolve_node_in_a_workflow(weights, subject, tmp_path):
    files, *_ = subject
    inputnode = Node(IdentityInterface(fields=["maps", "mask", "slices"]), name="inputnode")
    inputnode.inputs.maps, inputnode.inputs.mask, inputnode.inputs.slices = str(files["maps"]), str(files["mask"]), [1, 2]
    node = Node(SuperResolve(metabolites=METS, t1w_file=str(files["t1"]), flair_file=str(files["flair"]),
                             target_matrix=N, simulate_matrix=8, sharpness=[0.0, 0.03], weights=str(weights),
                             device="cpu"), name="superresolve")
    export = Node(ExportSlices(metabolites=METS, t1w_file=str(files["t1"]), flair_file=str(files["flair"]),
                               subject="07"), name="export")
    wf = Workflow(name="sr_wf", base_dir=str(tmp_path / "work"))
    wf.config["execution"]["crashdump_dir"] = str(tmp_path)
    wf.connect([(inputnode, node, [("maps", "in_file"), ("mask", "mask_file"), ("slices", "slices")]),
                (inputnode, export, [("maps", "in_file"), ("mask", "mask_file"), ("slices", "slices")])])
    graph = wf.run()
    results = {n.name: n.result.outputs for n in graph.nodes}
    outputs = results["superresolve"]
    assert len(outputs.out_files) == 2 and outputs.acquired_matrix == 8
    image = nib.load(outputs.out_files[1])
    assert image.shape == (N, N, Z, 2) and np.allclose(image.affine, np.diag([3.4, 3.4, 3.4, 1.0]))
    assert outputs.model_info["placeholder"] is True
    prepared = load_subject(results["export"].out_file)
    assert prepared.maps.shape == (2, 2, N, N) and prepared.t1.shape == (2, 3 * N, 3 * N, 3)
    assert prepared.subject == "07" and list(prepared.slices) == [1, 2]


@pytest.mark.filterwarnings("ignore:acquired matrix 8 is outside:UserWarning")  # a 16×16 test grid
def test_superresolve_on_acquired_grid_writes_the_fine_affine(weights, subject, tmp_path):
    files, maps, mask, _ = subject
    coarse_affine = kspace.coarse_grid_affine(np.diag([3.4, 3.4, 3.4, 1.0]), N, 8)
    acquired = np.abs(np.stack([np.stack([kspace.crop_acquisition(maps[:, :, z, m], 8) for m in range(2)], -1)
                                for z in range(Z)], 2)).astype(np.float32)
    nib.save(nib.Nifti1Image(acquired, coarse_affine), tmp_path / "acq.nii.gz")
    nib.save(nib.Nifti1Image(np.ones(acquired.shape, np.uint8), coarse_affine), tmp_path / "acqmask.nii.gz")
    result = SuperResolve(in_file=str(tmp_path / "acq.nii.gz"), mask_file=str(tmp_path / "acqmask.nii.gz"),
                          metabolites=METS, t1w_file=str(files["t1"]), flair_file=str(files["flair"]), slices=[0],
                          target_matrix=N, weights=str(weights), device="cpu").run(cwd=str(tmp_path))
    assert np.allclose(nib.load(result.outputs.out_files[0]).affine, np.diag([3.4, 3.4, 3.4, 1.0]))


def test_evaluate_command_on_prepared_slices(weights, subject, tmp_path):
    files, *_ = subject
    (tmp_path / "prepared").mkdir()
    ExportSlices(in_file=str(files["maps"]), mask_file=str(files["mask"]), metabolites=METS,
                 t1w_file=str(files["t1"]), flair_file=str(files["flair"]), slices=[1, 2], subject="01"
                 ).run(cwd=str(tmp_path / "prepared"))
    out = tmp_path / "eval"
    code = evaluate_cli.main([str(tmp_path / "prepared"), "--weights", str(weights), "--simulate-matrix", "4", "8",
                              "--sharpness", "0", "0.05", "--mismatch", "--mismatch-sizes", "4", "8", "--panels", "8", "--json", str(out / "s.json"),
                              "--out-dir", str(out), "--device", "cpu", "--quiet"])
    assert code == 0
    result = json.loads((out / "s.json").read_text())
    assert set(result["methods"]) == {"model", "zero-fill", "bicubic"}
    for method in result["methods"].values():
        assert np.isfinite(method["psnr"]) and 0 < method["ssim"] <= 1
    assert {row["lam"] for row in result["per_lambda"] if row["method"] == "model"} == {0.0, 0.05}
    assert np.array(result["mismatch"]["n"]).shape == (2, 2)
    assert {p.name for p in out.iterdir()} >= {"rows.csv", "summary.md", "per_n.png", "lambda_sweep.png",
                                              "mismatch_n.png", "mismatch_metabolite.png",
                                              "panel_sub-01_n8.png"}
    assert "Wilcoxon" in (out / "summary.md").read_text()


def test_evaluate_slice_step_scores_every_kth_slice(weights, subject, tmp_path):
    files, *_ = subject
    ExportSlices(in_file=str(files["maps"]), mask_file=str(files["mask"]), metabolites=METS,
                 t1w_file=str(files["t1"]), flair_file=str(files["flair"]), slices=[0, 1, 2, 3], subject="01"
                 ).run(cwd=str(tmp_path))
    common = [str(tmp_path), "--weights", str(weights), "--simulate-matrix", "8", "--baselines", "--device", "cpu",
              "--quiet"]
    assert evaluate_cli.main(common + ["--slice-step", "3", "--out-dir", str(tmp_path / "e")]) == 0
    rows = (tmp_path / "e" / "rows.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert sorted({int(r.split(",")[header.index("slice")]) for r in rows[1:]}) == [0, 3]
    assert evaluate_cli.main(common + ["--slice-step", "0"]) == 2


def test_evaluate_refuses_unknown_subjects(weights, tmp_path):
    assert evaluate_cli.main([str(tmp_path), "--weights", str(weights)]) == 2



@pytest.mark.parametrize("module", ["mrsisr.inference", "mrsisr.interfaces.superres"])
def test_loading_the_inference_path_pulls_in_no_training_dependency(module):
    """Importing the SuperResolve path and loading the model needs torch and the network, not the trainer's
    progress bar (``tqdm.auto``), MS-SSIM loss or the training package (torch itself imports plain ``tqdm``)."""
    import subprocess
    import sys

    code = (f"import sys, {module}; from mrsisr.inference import load_for_inference; "
            "load_for_inference(None, 'cpu'); "
            "print(sorted(m for m in ('tqdm.auto', 'pytorch_msssim', 'mrsisr.training', 'mrsisr.losses') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_batch_size_defaults_come_from_mrsisr_defaults():
    import inspect

    from mrsisr import defaults, inference
    from mrsisr.evaluation import runner

    for function in (inference.super_resolve_maps, inference.super_resolve_volume, runner.model_method,
                     runner.mismatch_study):
        assert inspect.signature(function).parameters["batch_size"].default == defaults.BATCH_SIZE == 8
    assert evaluate_cli.parse_args(["data"]).batch_size == defaults.BATCH_SIZE


def test_a_recentred_network_says_where_its_sharpness_starts(tmp_path):
    """A network recentred at λ* reports it: in ModelInfo, in every per-λ sidecar, in the methods text."""
    from mrsisr.bids_app.boilerplate import facts_from_sidecar, methods_markdown
    from mrsisr.models.conditioning import recentre_sharpness
    from mrsisr.workflows.outputs import mrsi_sidecars

    model = build("mcm", base_features=2, latent_width=4, sharpness_width=4)
    recentre_sharpness(model, 0.02)
    path = save_weights(model, tmp_path / "recentred.safetensors", extra={"lambda_origin": 0.02})
    _, info = load_for_inference(path, "cpu")
    assert info.lambda_origin == pytest.approx(0.02)
    _, _, _, per_lambda = mrsi_sidecars([0.0, 0.05, 0.1], 64, None, None, 16, info.to_dict(), [0], {}, [],
                                        "python", "python")
    assert [side["TrainedSharpness"] for side in per_lambda] == pytest.approx([0.02, 0.06, 0.1])
    assert [side["Sharpness"] for side in per_lambda] == [0.0, 0.05, 0.1]
    assert per_lambda[0]["Model"]["SharpnessOrigin"] == pytest.approx(0.02)
    text = methods_markdown(facts_from_sidecar(per_lambda[0], metabolites=["NAA"], sharpness=[0.0, 0.05]))
    assert "starts at the trained λ = 0.02" in text and "0.02 + 0.8·λ" in text
    _, plain = load_for_inference(save_weights(build("mcm", base_features=2, latent_width=4, sharpness_width=4),
                                               tmp_path / "plain.safetensors"), "cpu")
    _, _, _, plain_sidecars = mrsi_sidecars([0.03], 64, None, None, 16, plain.to_dict(), [0], {}, [], "python", "python")
    assert plain.lambda_origin == 0.0 and plain_sidecars[0]["TrainedSharpness"] == 0.03
    assert "trained λ" not in methods_markdown(facts_from_sidecar(plain_sidecars[0], metabolites=["NAA"],
                                                                  sharpness=[0.03]))
