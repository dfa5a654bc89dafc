"""nnU-Net v2 beside autoseg in the benchmarks: the same plan, and the same weights.

``plan_like_autoseg`` runs nnU-Net's fingerprint and planner on a raw dataset,
then overwrites the configuration's spacing, patch, batch and network with
autoseg's plan, so both tools train or predict the same network on the same
grid. ``export_weights`` writes an nnU-Net checkpoint holding an autoseg
model's weights (the two U-Nets have the same layers; nnU-Net's transposed
convolutions carry a bias, set to zero), so predictions can be compared
voxel for voxel.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

CONVERT = r"""
import json, re, sys, torch
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

ours_path, plans_path, dataset_json_path, configuration, mirror_axes, out_path = sys.argv[1:]
ours = torch.load(ours_path, map_location="cpu", weights_only=False)["network"]
plans, dataset_json = json.load(open(plans_path)), json.load(open(dataset_json_path))
config = PlansManager(plans).get_configuration(configuration)
channels = len(dataset_json["channel_names"])
regions = any(isinstance(v, list) for v in dataset_json["labels"].values())
outputs = len(dataset_json["labels"]) - 1 if regions else len(dataset_json["labels"])
network = get_network_from_plans(config.network_arch_class_name, config.network_arch_init_kwargs, config.network_arch_init_kwargs_req_import,
                                 channels, outputs, allow_init=True, deep_supervision=True)
rules = [
    (r"encoder\.stages\.(\d+)\.0\.convs\.(\d+)\.conv\.(\w+)", r"encoder.stages.\1.\2.0.\3"),
    (r"encoder\.stages\.(\d+)\.0\.convs\.(\d+)\.norm\.(\w+)", r"encoder.stages.\1.\2.1.\3"),
    (r"decoder\.stages\.(\d+)\.convs\.(\d+)\.conv\.(\w+)", r"decoder.\1.\2.0.\3"),
    (r"decoder\.stages\.(\d+)\.convs\.(\d+)\.norm\.(\w+)", r"decoder.\1.\2.1.\3"),
    (r"decoder\.transpconvs\.(\d+)\.weight", r"upsample.\1.weight"),
    (r"decoder\.seg_layers\.(\d+)\.(\w+)", r"heads.\1.\2"),
]
used = set()
with torch.no_grad():
    for name, tensor in network.state_dict().items():
        if "all_modules" in name or name.startswith("decoder.encoder."):
            continue  # the same tensors under a second name
        if re.fullmatch(r"decoder\.transpconvs\.\d+\.bias", name):
            tensor.zero_()
            continue
        source = next((re.sub(p, r, name) for p, r in rules if re.fullmatch(p, name)), None)
        if source is None or source not in ours or ours[source].shape != tensor.shape:
            sys.exit(f"no autoseg tensor for nnU-Net's {name} ({source})")
        tensor.copy_(ours[source])
        used.add(source)
missing = sorted(set(ours) - used)
if missing:
    sys.exit(f"autoseg tensors not used: {missing[:5]}")
torch.save({"network_weights": network.state_dict(), "trainer_name": "nnUNetTrainer", "inference_allowed_mirroring_axes": tuple(json.loads(mirror_axes)),
            "init_args": {"plans": plans, "configuration": configuration, "fold": 0, "dataset_json": dataset_json, "device": "cpu"}}, out_path)
"""


def nnunet_env(raw: Path, work: Path, workers: int | None = None) -> dict:
    env = dict(os.environ, nnUNet_raw=str(raw), nnUNet_preprocessed=str(work / "nnunet_pre"), nnUNet_results=str(work / "nnunet_results"))
    if workers is not None:
        env["nnUNet_n_proc_DA"] = str(workers)
    return env


def run_tool(bin_dir: Path, env: dict, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_dir / command[0]), *command[1:]], env=env, check=True, capture_output=True, text=True)


def plan_like_autoseg(bin_dir: Path, env: dict, dataset_name: str, plan: dict, configuration: str) -> Path:
    """Runs nnU-Net's fingerprint and planner, puts autoseg's plan of ``configuration`` into its
    nnUNetPlans.json and returns that file's path."""
    dataset_id = dataset_name[7:10]
    run_tool(bin_dir, env, "nnUNetv2_extract_fingerprint", "-d", dataset_id, "-np", "2")
    run_tool(bin_dir, env, "nnUNetv2_plan_experiment", "-d", dataset_id)
    plans_path = Path(env["nnUNet_preprocessed"]) / dataset_name / "nnUNetPlans.json"
    plans = json.loads(plans_path.read_text())
    target = plans["configurations"][configuration]
    architecture = plan["architecture"]
    stages = len(architecture["features_per_stage"])
    target.update(spacing=plan["spacing"], patch_size=plan["patch_size"], batch_size=plan["batch_size"])
    target["architecture"]["arch_kwargs"].update(
        n_stages=stages,
        features_per_stage=architecture["features_per_stage"],
        kernel_sizes=architecture["kernel_sizes"],
        strides=architecture["strides"],
        n_conv_per_stage=[architecture["n_conv_per_stage"]] * stages,
        n_conv_per_stage_decoder=[architecture["n_conv_per_stage_decoder"]] * (stages - 1),
    )
    plans_path.write_text(json.dumps(plans, indent=2))
    return plans_path


def export_weights(
    bin_dir: Path, env: dict, checkpoint: Path, plans_path: Path, raw_dataset: Path, configuration: str, mirror_axes: list[int]
) -> Path:
    """Writes nnU-Net's model folder (plans, dataset.json, fold_0/checkpoint_final.pth) holding the
    weights of autoseg's ``checkpoint``; returns the folder."""
    folder = Path(env["nnUNet_results"]) / raw_dataset.name / f"nnUNetTrainer__nnUNetPlans__{configuration}"
    (folder / "fold_0").mkdir(parents=True, exist_ok=True)
    (folder / "plans.json").write_text(plans_path.read_text())
    (folder / "dataset.json").write_text((raw_dataset / "dataset.json").read_text())
    fingerprint = plans_path.parent / "dataset_fingerprint.json"
    (folder / "dataset_fingerprint.json").write_text(fingerprint.read_text())
    subprocess.run(
        [
            str(bin_dir / "python"),
            "-c",
            CONVERT,
            str(checkpoint),
            str(folder / "plans.json"),
            str(folder / "dataset.json"),
            configuration,
            json.dumps(mirror_axes),
            str(folder / "fold_0" / "checkpoint_final.pth"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return folder
