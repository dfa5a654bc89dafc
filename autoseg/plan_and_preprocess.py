"""The stages between a raw dataset and training: fingerprint, plan, preprocess.

Each stage reads the files of the one before it in
``AUTOSEG_PREPROCESSED/DatasetXXX_Name/`` and writes its own:
``fingerprint.json``, ``plans.json`` (or ``plans_<planner>.json``), then one
folder of preprocessed cases per data identifier. A user may stop after any
stage, edit its JSON and go on: existing fingerprint and plans are kept unless
``overwrite`` is set.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np

from autoseg.dataset import Case, DatasetSpec, RawDataset, verify_dataset
from autoseg.dataset.reading import read_case
from autoseg.errors import AutosegError
from autoseg.fingerprint import Fingerprint, compute_fingerprint, fingerprint_part, merge_fingerprint_parts, part_file
from autoseg.io import atomic_write, give_default_permissions, remove_leftovers
from autoseg.parallel import check_part, map_cases
from autoseg.plans import Configuration, Plans, plans_file_name
from autoseg.preprocessing.pipeline import CaseProperties, preprocess_case
from autoseg.preprocessing.storage import CASES_FOLDER, LAYOUT_VERSION, is_finished, save_case, write_case_list
from autoseg.tasks import Task, task_for

FINGERPRINT_WAIT_MINUTES = 120.0  # how long a part of plan_and_preprocess waits for the other parts' fingerprints


def run_fingerprint(
    dataset: RawDataset,
    output_dir: Path,
    num_processes: int | None = None,
    *,
    overwrite: bool = False,
    seed: int = 0,
    num_parts: int = 1,
    part_id: int = 0,
) -> Fingerprint | None:
    """Computes (or, unless ``overwrite``, reuses) ``output_dir/fingerprint.json``. With ``num_parts`` > 1, this
    call fingerprints part ``part_id`` (autoseg.fingerprint.fingerprint_part); the part that finds every part
    written merges them into fingerprint.json. Returns the fingerprint, or None while parts are missing."""
    path = output_dir / "fingerprint.json"
    if path.is_file() and not overwrite:
        print(f"using existing {path} (pass --overwrite to recompute)")
        return Fingerprint.load(path)
    if num_parts > 1:
        written = fingerprint_part(dataset, output_dir, num_parts=num_parts, part_id=part_id, num_processes=num_processes, seed=seed)
        missing = [k for k in range(num_parts) if not part_file(output_dir, k, num_parts).is_file()]
        if missing:
            print(f"wrote {written}; waiting for part(s) {', '.join(map(str, missing))} of {num_parts}")
            return None
        fingerprint = merge_fingerprint_parts(dataset, output_dir, num_parts, seed)
    else:
        fingerprint = compute_fingerprint(dataset, num_processes, seed)
    fingerprint.save(path)
    print(f"wrote {path}")
    return fingerprint


def run_plan(
    dataset: RawDataset,
    output_dir: Path,
    *,
    planner: str = "default",
    gpu_memory_gb: float | None = None,
    overwrite: bool = False,
    target_spacing: list[float] | None = None,
    plans_from: Path | None = None,
) -> Plans:
    """Plans from ``fingerprint.json``; keeps an existing (possibly hand-edited) plans file unless ``overwrite``.

    ``target_spacing``: plan around this full-resolution spacing instead of the planned one. ``plans_from``: a
    plans file of another dataset whose configurations (network, patch, spacing) these plans keep, with this
    dataset's own normalisation and labels (written under the same file name; see ``Planner.transfer``).
    """
    from planners import get_planner

    if plans_from is not None and target_spacing is not None:
        raise AutosegError("--plans_from keeps the source's spacing; leave out --target_spacing (or plan without --plans_from).")
    source = Plans.load(plans_from) if plans_from is not None else None
    path = output_dir / (Path(plans_from).name if plans_from is not None else plans_file_name(planner))
    asked = target_spacing is not None or plans_from is not None
    if path.is_file() and not overwrite:
        if asked:
            raise AutosegError(
                f"{path} exists (perhaps edited by hand); pass --overwrite to re-plan it "
                f"{'at --target_spacing' if target_spacing is not None else 'from --plans_from'}."
            )
        print(f"using existing {path} (pass --overwrite to re-plan)")
        return Plans.load(path)
    fingerprint_path = output_dir / "fingerprint.json"
    if not fingerprint_path.is_file():
        raise AutosegError(f"{fingerprint_path} not found; run `autoseg fingerprint -d {dataset.name}` first.")
    fingerprint = Fingerprint.load(fingerprint_path)
    if source is not None:
        if Path(plans_from).resolve() == path.resolve():
            raise AutosegError(f"--plans_from {plans_from} is this dataset's own plans file; name another dataset's.")
        plans = get_planner(source.planner).transfer(
            source, f"{Path(plans_from).parent.name}/{Path(plans_from).name}", fingerprint, dataset.spec
        )
    else:
        plans = get_planner(planner)(fingerprint, dataset.spec, gpu_memory_gb, target_spacing=target_spacing)
    plans.save(path)
    shutil.copyfile(dataset.root / "dataset.json", output_dir / "dataset.json")
    print(f"wrote {path}")
    for name, reason in plans.left_out.items():
        print(f"left out {name}: {reason}")
    return plans


def data_settings(plans: Plans, configuration: Configuration, task: Task) -> dict:
    """The plan values preprocessed data depends on (kept as the data folder's settings.json); data made
    under other values is redone by preprocessing and refused by training."""
    return {
        "layout": LAYOUT_VERSION,
        "spacing": configuration.spacing,
        "normalisation": {k: asdict(v) for k, v in plans.normalisation.items()},
        "target_normalisation": {k: asdict(v) for k, v in plans.target_normalisation.items()},
        "input_size": task.fixed_input_size(configuration),
    }


def source_configuration(plans: Plans, configuration: Configuration) -> Configuration:
    """The configuration whose volumes ``configuration``'s data folder holds: itself, or for 2d slices of
    3d_fullres's volumes the volume configuration sharing its data identifier."""
    identifier = configuration.data_identifier
    return next((c for c in plans.configurations.values() if c.data_identifier == identifier and c.slice_axis is None), configuration)


def check_preprocessed(folder: Path, plans: Plans, configuration: Configuration, task: Task, dataset: str) -> None:
    """Raises AutosegError unless ``folder`` was preprocessed for these plans (its settings.json)."""
    settings_path = folder / "settings.json"
    recorded = json.loads(settings_path.read_text()) if settings_path.is_file() else None
    if recorded != json.loads(json.dumps(data_settings(plans, source_configuration(plans, configuration), task))):
        differs = "it records no settings" if recorded is None else "spacing, normalisation, input size or storage layout differ"
        raise AutosegError(
            f"{folder} was not preprocessed with the plans of planner {plans.planner!r} ({differs}): the plans (or autoseg) changed "
            "since. "
            f"Run `autoseg preprocess -d {dataset} -pl {plans.planner} -c {configuration.name}` again."
        )


def _preprocess_one(
    item: tuple[int, Case], *, spec, root: Path, plans: Plans, configuration: Configuration, folder: Path, seed: int
) -> str:
    index, case = item
    task = task_for(spec)
    arrays = read_case(case, spec, root)  # refuses, naming the file, what verify would refuse
    target, geometry = arrays.target, arrays.geometry
    data, target, record = preprocess_case(
        arrays.channels, geometry, target, plans=plans, configuration=configuration, target_is_label=task.target_is_label
    )
    data = task.prepare_input(data, configuration)
    if target is not None:
        target = task.prepare_target(target)
    locations = task.sampling_locations(target, np.random.default_rng([seed, index])) if target is not None else {}
    properties = CaseProperties.from_record(
        case.case_id,
        geometry,
        record,
        class_index=case.class_index,
        subject=case.subject,
        locations={name: int(len(coordinates)) for name, coordinates in locations.items()},
    )
    chunking = dict(patch_size=configuration.patch_size, slice_axis=configuration.slice_axis)
    save_case(folder, data, target, locations=locations, properties=properties, **chunking)
    return case.case_id


def run_preprocess(
    dataset: RawDataset,
    output_dir: Path,
    plans: Plans,
    *,
    configurations: list[str] | None = None,
    num_processes: int | None = None,
    overwrite: bool = False,
    seed: int = 0,
    num_parts: int = 1,
    part_id: int = 0,
) -> dict[str, Path]:
    """Preprocesses the training cases for each configuration; returns {data identifier: folder}.

    Finished cases are skipped unless ``overwrite``; if the plans changed since
    a folder was made (spacing, normalisation), that folder is redone. With
    ``num_parts`` > 1 this call preprocesses part ``part_id``'s cases only
    (cases part_id, part_id + num_parts, ...): one call per part, on as many
    machines; training refuses the folder until every part has finished.
    """
    check_part(num_parts, part_id)
    if overwrite and num_parts > 1:
        raise AutosegError("--overwrite would delete the other parts' cases; delete the data folder once, then run the parts.")
    names = configurations or list(plans.configurations)
    folders = {}
    cases = dataset.cases("train")
    copy_references(cases, output_dir / "gt")
    if dataset.spec.baselines():  # regression targets with a baseline input channel
        copy_baselines(cases, dataset.spec, output_dir / "baseline")
    for name in names:
        configuration = plans.configuration(name)
        identifier = configuration.data_identifier
        if identifier in folders:
            continue
        source = source_configuration(plans, configuration)
        folder = output_dir / identifier
        settings = data_settings(plans, source, task_for(dataset.spec))
        settings_path = folder / "settings.json"
        if folder.is_dir() and (overwrite or not settings_path.is_file() or json.loads(settings_path.read_text()) != settings):
            if num_parts > 1:  # another part may be writing its cases into it now
                raise AutosegError(
                    f"{folder} was preprocessed under other plans (or did not start properly); parts cannot redo it without "
                    "deleting each other's cases: delete the folder once, then run the parts."
                )
            if not overwrite and settings_path.is_file():
                print(f"{folder}: plans changed since it was preprocessed; preprocessing again")
            shutil.rmtree(folder)
        if not folder.is_dir():
            _create_data_folder(folder, settings)
        mine = list(enumerate(cases))[part_id::num_parts]
        # Other parts may be writing their cases into this folder now: only this part's leftovers are removed.
        remove_leftovers(folder / CASES_FOLDER, {case.case_id for _, case in mine} if num_parts > 1 else None)
        write_case_list(folder, [case.case_id for case in cases])
        todo = [(i, case) for i, case in mine if not is_finished(folder, case.case_id)]
        if len(todo) < len(mine):
            print(f"{folder}: {len(mine) - len(todo)} case(s) already done, {len(todo)} to go")
        worker = partial(_preprocess_one, spec=dataset.spec, root=dataset.root, plans=plans, configuration=source, folder=folder, seed=seed)
        map_cases(worker, todo, num_processes, desc=f"preprocess {identifier}")
        folders[identifier] = folder
        print(f"preprocessed {len(mine)} cases into {folder}" + (f" (part {part_id} of {num_parts})" if num_parts > 1 else ""))
    return folders


def _create_data_folder(folder: Path, settings: dict) -> None:
    """Creates ``folder`` holding its settings.json in one rename: parts starting at once find it whole or not at all
    (the one that loses the race finds the winner's, made under the same plans)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    (tmp / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    give_default_permissions(tmp)
    try:
        os.rename(tmp, folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not folder.is_dir() or json.loads((folder / "settings.json").read_text()) != settings:
            raise


def copy_references(cases: list[Case], folder: Path) -> None:
    """Copies each case's raw label or target files into ``folder``, for validation against the original grid."""
    _copy_files([(path, folder / path.name) for case in cases for path in case.label_files], folder)


def copy_baselines(cases: list[Case], spec: DatasetSpec, folder: Path) -> None:
    """Copies each case's baseline input channels (dataset.json ``baseline_channels``: the low-dose PET of
    a standard-dose target) into ``folder`` under their targets' file names, so validation scores them too."""
    baselines = spec.baselines()
    _copy_files(
        [(case.image_files[channel], folder / case.label_files[target].name) for case in cases for target, channel in baselines.items()],
        folder,
    )


def _copy_files(pairs: list[tuple[Path, Path]], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for source, target in pairs:
        if not target.is_file() or target.stat().st_size != source.stat().st_size:
            atomic_write(target, lambda tmp, source=source: shutil.copyfile(source, tmp))


def plan_and_preprocess(
    dataset: RawDataset,
    output_dir: Path,
    *,
    configurations: list[str] | None = None,
    planner: str = "default",
    gpu_memory_gb: float | None = None,
    num_processes: int | None = None,
    verify: bool = False,
    overwrite: bool = False,
    target_spacing: list[float] | None = None,
    plans_from: Path | None = None,
    num_parts: int = 1,
    part_id: int = 0,
    wait_minutes: float = FINGERPRINT_WAIT_MINUTES,
) -> Plans:
    """Runs verify (optional), fingerprint, plan (see ``run_plan``) and preprocess; returns the plans.

    With ``num_parts`` > 1 this call is part ``part_id`` of as many calls (on as many machines): it fingerprints
    its cases, waits up to ``wait_minutes`` until every part's fingerprint is in (the last part merges them), plans
    (every part makes the same plans; the first written is kept) and preprocesses its cases."""
    if num_parts > 1:
        _refuse_for_parts(dataset.name, overwrite=overwrite, verify=verify)
    if verify:
        report = verify_dataset(dataset.root, num_processes)
        if not report.ok:
            raise AutosegError(report.summary())
    parts = dict(num_parts=num_parts, part_id=part_id)
    if run_fingerprint(dataset, output_dir, num_processes, overwrite=overwrite, **parts) is None:
        wait_for_fingerprint(dataset, output_dir, num_parts, wait_minutes)
    plans = run_plan(
        dataset,
        output_dir,
        planner=planner,
        gpu_memory_gb=gpu_memory_gb,
        overwrite=overwrite,
        target_spacing=target_spacing,
        plans_from=plans_from,
    )
    run_preprocess(dataset, output_dir, plans, configurations=configurations, num_processes=num_processes, overwrite=overwrite, **parts)
    return plans


def _refuse_for_parts(dataset_name: str, *, overwrite: bool, verify: bool) -> None:
    """AutosegError for the flags a part of plan_and_preprocess cannot honour: each part would delete the other
    parts' work, or verify the whole dataset."""
    if overwrite or verify:
        flag, harm, once = (
            ("--overwrite", "delete the other parts' work", "fingerprint --overwrite")
            if overwrite
            else ("--verify", "verify the whole dataset", "verify")
        )
        raise AutosegError(
            f"{flag} with --num_parts: every part would {harm}; run `autoseg {once} -d {dataset_name}` once first, then the parts."
        )


def wait_for_fingerprint(dataset: RawDataset, output_dir: Path, num_parts: int, minutes: float, poll_seconds: float = 5.0) -> None:
    """Returns once ``output_dir/fingerprint.json`` exists (merged by the last of ``num_parts`` fingerprint parts);
    AutosegError naming the parts still missing after ``minutes``."""
    path = Path(output_dir) / "fingerprint.json"
    deadline = time.monotonic() + 60 * minutes
    announced = False
    while not path.is_file():
        missing = [str(k) for k in range(num_parts) if not part_file(output_dir, k, num_parts).is_file()]
        if time.monotonic() >= deadline:
            raise AutosegError(
                f"fingerprint part(s) {', '.join(missing) or 'merge'} of {num_parts} of {dataset.name} did not finish within {minutes:g} "
                f"minutes; run the same command with --part_id {missing[0] if missing else 'K'} (or raise --wait_minutes)."
            )
        if not announced:
            print(
                f"waiting for fingerprint part(s) {', '.join(missing) or '(merge)'} of {num_parts} (up to {minutes:g} minutes)", flush=True
            )
            announced = True
        time.sleep(min(poll_seconds, max(0.0, deadline - time.monotonic())))


def submit_plan_and_preprocess(request, raw_folder: Path, output_dir: Path, num_parts: int, **options) -> dict[str, str]:
    """``plan_and_preprocess`` of the dataset in ``raw_folder`` as two waves of ``num_parts`` cluster jobs
    (autoseg.cluster): fingerprint parts, then plan and preprocess parts once those have succeeded; their logs
    under ``output_dir/jobs/``. Returns {job: id}; with the local backend, waits for both waves."""
    from autoseg.cluster import Call, submit_jobs, wait_for_jobs

    name = Path(output_dir).name
    _refuse_for_parts(name, overwrite=options.get("overwrite", False), verify=options.get("verify", False))
    num_processes = options.get("num_processes")
    fingerprints = {
        f"fingerprint part {k}": Call(
            f"{name}_fingerprint_{k}",
            output_dir,
            _fingerprint_job,
            dict(raw=raw_folder, output=output_dir, num_processes=num_processes, num_parts=num_parts, part_id=k),
        )
        for k in range(num_parts)
    }
    first = submit_jobs(request, fingerprints)
    if request.backend == "local":
        wait_for_jobs(first, "fingerprint")
    preprocessing = {
        f"preprocess part {k}": Call(
            f"{name}_preprocess_{k}",
            output_dir,
            _plan_and_preprocess_job,
            dict(options, raw=raw_folder, output=output_dir, num_parts=num_parts, part_id=k),
        )
        for k in range(num_parts)
    }
    second = submit_jobs(request, preprocessing, after=list(first.values()))
    if request.backend == "local":
        wait_for_jobs(second, "preprocessing")
    return {key: str(job.job_id) for key, job in (first | second).items()}


def _fingerprint_job(*, raw: Path, output: Path, **options) -> None:
    run_fingerprint(RawDataset(raw), output, **options)


def _plan_and_preprocess_job(*, raw: Path, output: Path, **options) -> None:
    plan_and_preprocess(RawDataset(raw), output, **options)
