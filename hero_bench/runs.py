"""The one online loop every method shares, with budget accounting, evaluation, logs and exact resume.

    for epoch in 1..budget // batch:
        z_T  = method.initial_noise(batch)          # HERO: Gaussian mixture around good/best noises
        traj = sample_with_trajectory(...)          # DDIM with per-step log-probs
        fb   = oracle.judge(decode(traj.z0))        # costs `batch` feedback
        method.update(traj, images, fb)             # HERO: triplet embedding -> sim-to-best -> DDPO-K
        evaluate with the judge on eval noises      # success_rate, logged against feedback_used
        checkpoint                                  # atomic; `--resume` restarts from here exactly

A run folder holds: config.json, task.json (the task definition as run), model.json (which weights were
loaded: `hero_bench.model_identity`), environment.jsonl (code, libraries and device of each start and resume:
`hero_bench.run_environment`), results.csv (one row per epoch;
epoch 0 = before training), feedback.jsonl (every label), grids/ (contact sheets), eval/epoch_XXX/ (judged
evaluation images; HERO's on N(0, I) noise in eval_std_noise/), checkpoint.pt (removed once done.json marks
the run finished), final/ (LoRA weights and noise for `hero-bench sample`), .lock (held while a process runs it).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm

from hero_bench.config import RunConfig
from hero_bench.devices import run_device, torch_dtype
from hero_bench.evaluation import DEFAULT_MODEL, Evaluation, SamplingSettings, evaluate, wilson_interval
from hero_bench.grids import contact_sheet
from hero_bench.methods import METHODS, Method, RunContext
from hero_bench.model_identity import check_same_model, write_model_record
from hero_bench.models import load_pipeline
from hero_bench.oracles import ORACLE_OPTIONS, ORACLES, Oracle
from hero_bench.oracles.base import Feedback
from hero_bench.oracles.human.oracle import judge_page_port
from hero_bench.run_environment import ENVIRONMENT, append_environment, environment_record, other_code
from hero_bench.run_files import (
    CHECKPOINT,
    CONFIG,
    DONE,
    FEEDBACK_LOG,
    RESULTS,
    STD_NOISE_EVAL,
    TASK,
    atomic_write_text,
    run_lock,
)
from hero_bench.run_folders import (
    labels_through_epoch,
    read_results,
    run_dir_for,
    runs_under,
    write_results_table,
)
from hero_bench.run_identity import finished_result, folder_taken, same_settings, with_method_overrides  # noqa: F401 - re-exported
from hero_bench.sampling import decode_latents, encode_prompts, sample_with_trajectory
from hero_bench.snapshots import BackgroundWriter, live_snapshot
from hero_bench.snapshots import atomic_write as _atomic_write
from hero_bench.summary import summarise  # noqa: F401 - moved; `from hero_bench.runs import summarise` still works
from hero_bench.tasks.fit import check_steps
from hero_bench.tasks.loader import load_task
from hero_bench.timing import stage_timed, with_stage_times


def _image_hash(img: Image.Image) -> str:
    return hashlib.sha1(img.tobytes()).hexdigest()[:16]


class Run:
    """One (task, method, seed) run in its folder; `execute()` runs or resumes it to the end.
    `resumable=False` writes no checkpoint: for a folder that will not outlive the run (a temporary one)."""

    def __init__(self, cfg: RunConfig, folder: Path, progress: bool = True, resumable: bool = True) -> None:
        self.cfg, self.folder, self.progress, self.resumable = cfg, Path(folder), progress, resumable
        self.task = load_task(cfg.task)
        self.cfg = cfg = with_method_overrides(cfg)
        self.method: Method = METHODS.create(cfg.method)
        oracle_options = {"seed": cfg.seed, **cfg.oracle_options}
        judge_options = {"seed": cfg.seed + 1, **cfg.judge_options}
        run_id = f"{self.task.name}/{cfg.label}/seed{cfg.seed}"
        # A person's labels live in the run folder, not the working directory: `--resume` from anywhere (or after
        # moving the folder) finds the same labels and URL token, so no acknowledged label is asked for again.
        # A person judging keeps a store of their own (their labels are not feedback), and a page of their own
        # on any free port when a person also gives the feedback.
        if cfg.oracle == "human":  # the page shows budget progress
            oracle_options = {"store": str(Path(folder) / "human_labels.sqlite"), "run_id": run_id,
                              "budget": cfg.budget, **oracle_options}  # fmt: skip
        if cfg.judge == "human":
            judge_options = {"store": str(Path(folder) / "human_judge_labels.sqlite"), "run_id": f"{run_id}/judge",
                             "port": judge_page_port(cfg.oracle), **judge_options}  # fmt: skip
        # A model oracle or judge (clip, blip-vqa, a local VLM) runs where the pipeline does unless told otherwise;
        # the device is where the run executes, not one of its settings, so it is not written into the config.
        self.device = run_device(cfg.device, real_model=cfg.model is not None, dtype=cfg.dtype)
        for name, options in ((cfg.oracle, oracle_options), (cfg.judge, judge_options)):
            if "device" in ORACLE_OPTIONS.get(name, ()):
                options.setdefault("device", self.device)
        self.oracle: Oracle = ORACLES.create(cfg.oracle, **oracle_options)
        self.judge: Oracle = ORACLES.create(cfg.judge, **judge_options)
        self.settings = SamplingSettings(
            num_inference_steps=cfg.steps or self.task.default_steps,
            eta=cfg.eta,
            guidance_scale=cfg.guidance_scale,
            batch_size=cfg.sample_batch_size,
        )
        check_steps(self.task, cfg)
        self.pipe = load_pipeline(cfg.model or DEFAULT_MODEL, device=self.device, dtype=torch_dtype(cfg.dtype))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.method.setup(RunContext(self.pipe, self.task, cfg, self.settings, folder=self.folder))
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.prompt_cache: dict = {}  # the text encoder is frozen: encode each prompt once per run
        self.rows: list[dict[str, Any]] = []
        self.writer = BackgroundWriter()  # the last epoch's files, written while the next one samples
        self.epoch = 0
        self.feedback_used = 0

    # ------------------------------------------------------------------------------------------- state
    def _state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "feedback_used": self.feedback_used,
            "rows": self.rows,
            "generator": self.generator.get_state(),
            "method": self.method.state_dict(),
            "oracle": self.oracle.state_dict(),
            "judge": self.judge.state_dict(),
            "config": self.cfg.model_dump(mode="json"),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        self.epoch, self.feedback_used, self.rows = state["epoch"], state["feedback_used"], state["rows"]
        self.generator.set_state(state["generator"])
        self.method.load_state_dict(state["method"])
        self.oracle.load_state_dict(state["oracle"])
        self.judge.load_state_dict(state["judge"])

    def _checkpoint(self) -> None:
        """Everything to continue exactly from the end of `self.epoch`, written atomically, then the
        human-readable tables rebuilt from it (so they never disagree with the checkpoint). Both are written
        on `self.writer`'s thread; `_files_written` waits for them before anything the state holds changes."""
        state = stage_timed("checkpoint", live_snapshot)(self._state) if self.resumable else None
        table = pd.DataFrame(with_stage_times(self.rows))

        def write() -> None:
            if state is not None:
                _atomic_write(self.folder / CHECKPOINT, lambda p: torch.save(state, p))
            _atomic_write(self.folder / RESULTS, lambda p: table.to_csv(p, index=False))

        self.writer.submit(write)

    def _files_written(self) -> None:
        """Wait for the last checkpoint and table (timed as the next epoch's checkpoint stage)."""
        stage_timed("checkpoint", self.writer.wait)()

    def _truncate_feedback_log(self) -> None:
        """Drop labels of an epoch that was interrupted before its checkpoint (it will be redone)."""
        log = self.folder / FEEDBACK_LOG
        if not log.exists():
            return
        kept = labels_through_epoch(log, self.epoch)
        _atomic_write(log, lambda p: p.write_text("".join(line + "\n" for line in kept)))

    # -------------------------------------------------------------------------------------------- loop
    def execute(self, resume: bool = False) -> pd.DataFrame:
        self.folder.mkdir(parents=True, exist_ok=True)
        with run_lock(self.folder):  # one process per run folder
            try:
                return self._execute(resume)
            except BaseException:  # stopped (Ctrl-C, an error) while a checkpoint is written: it still lands
                self.writer.wait(raise_error=False)
                raise

    def _execute(self, resume: bool) -> pd.DataFrame:
        ckpt = self.folder / CHECKPOINT
        if resume and (self.folder / DONE).exists():
            return pd.DataFrame(self.rows or read_results(self.folder / RESULTS).to_dict("records"))
        if resume and ckpt.exists():
            check_same_model(self.folder, self.cfg.model, DEFAULT_MODEL)
            # On the CPU first: a checkpoint written on a GPU resumes anywhere (`--resume DIR --device cpu`);
            # each state lands on its module's device as it is loaded (the generators' states must be CPU ones).
            self._restore(torch.load(ckpt, weights_only=False, map_location="cpu"))
            self._truncate_feedback_log()
            append_environment(self.folder, environment_record(self.device, self.cfg.dtype, self.epoch))
        else:
            if (self.folder / CONFIG).exists() and not self._killed_before_first_checkpoint():
                raise folder_taken(self.folder, same_settings(self.folder, self.cfg))
            for name, record in ((CONFIG, self.cfg), (TASK, self.task)):  # whole or absent, even if stopped here
                atomic_write_text(self.folder / name, json.dumps(record.model_dump(mode="json"), indent=2))
            write_model_record(self.folder, self.cfg.model or DEFAULT_MODEL)
            (self.folder / ENVIRONMENT).unlink(missing_ok=True)  # a start killed before its first checkpoint
            append_environment(self.folder, environment_record(self.device, self.cfg.dtype, None))
            (self.folder / FEEDBACK_LOG).write_text("")
            self._record(0, time.time(), {}, None)
            self._checkpoint()
        epochs = self.method.num_epochs() if self.method.trains else 0
        bar = tqdm(
            range(self.epoch + 1, epochs + 1),
            desc=f"{self.cfg.task} {self.cfg.method} seed{self.cfg.seed}",
            unit="epoch",
            disable=not self.progress,
            initial=self.epoch,
            total=epochs,
        )
        self._report_progress()  # the starting point (pretrained, or where a resumed run stands)
        for epoch in bar:
            t0 = time.time()
            fb, stats = self._train_epoch(epoch)
            self.epoch = epoch
            self._record(epoch, t0, stats, fb)
            self._checkpoint()
            self._report_progress()
            bar.set_postfix(success=f"{self.rows[-1]['success_rate']:.2f}", feedback=self.feedback_used)
        self.writer.wait()
        if self.method.trains:
            self.method.save_artifacts(self.folder / "final")
        # The checkpoint (optimiser and embedder states: hundreds of MB for HERO) is only needed to resume.
        (self.folder / DONE).write_text(json.dumps({"epochs": self.epoch, "feedback_used": self.feedback_used}))
        ckpt.unlink(missing_ok=True)
        return pd.DataFrame(self.rows)

    def _killed_before_first_checkpoint(self) -> bool:
        """A folder with this run's config.json but neither a checkpoint nor done.json: the run was stopped
        while writing its first files or evaluating epoch 0. Nothing in it can be resumed and no label was
        given yet (labels start with epoch 1), so starting afresh over it loses nothing."""
        has_progress = (self.folder / CHECKPOINT).exists() or (self.folder / DONE).exists()
        return not has_progress and same_settings(self.folder, self.cfg)

    def _report_progress(self) -> None:
        """Tell an oracle that shows progress (the human page's live chart) where the run stands."""
        report = getattr(self.oracle, "report_progress", None)
        if report is not None and self.rows:
            report(self.epoch, self.feedback_used, self.cfg.budget, self.rows[-1]["success_rate"])

    def _train_epoch(self, epoch: int) -> tuple[Feedback, dict[str, float]]:
        n = self.cfg.batch
        prompts = self.method.training_prompts(n)
        z_T = self.method.initial_noise(n, self.generator)
        embeds = encode_prompts(self.pipe, prompts, self.settings.guidance_scale, cache=self.prompt_cache)
        traj = stage_timed("sampling", sample_with_trajectory, fresh=True)(
            self.pipe,
            embeds,
            z_T,
            num_inference_steps=self.settings.num_inference_steps,
            eta=self.settings.eta,
            guidance_scale=self.settings.guidance_scale,
            generator=self.generator,
            batch_size=self.settings.batch_size,
        )
        images = stage_timed("decoding", decode_latents)(self.pipe, traj.final_latents)
        fb = stage_timed("judging", self.method_feedback)(images, prompts)
        self._log_feedback(epoch, images, prompts, fb)
        contact_sheet(images, fb.good if self.method.uses_feedback else None, fb.best).save(
            self._grid_dir() / f"epoch_{epoch:03d}_train.png"
        )
        self._files_written()  # the last checkpoint is whole before anything it holds is trained
        stats = stage_timed("update", self.method.update)(traj, images, fb)
        return fb, stats

    def method_feedback(self, images: list[Image.Image], prompts: list[str]) -> Feedback:
        """Ask the training oracle (charged to the budget) — only for methods that use feedback."""
        if not self.method.wants_feedback():  # monitoring only: the free judge, never a person or the budget
            return self.judge.judge(images, self.task, prompts)
        fb = self.oracle.judge(images, self.task, prompts)
        self.feedback_used += len(images)
        return fb

    def _log_feedback(self, epoch: int, images: list[Image.Image], prompts: list[str], fb: Feedback) -> None:
        with open(self.folder / FEEDBACK_LOG, "a") as f:
            for i, (img, p) in enumerate(zip(images, prompts, strict=False)):
                label = {
                    "epoch": epoch,
                    "index": i,
                    "prompt": p,
                    "good": fb.good[i],
                    "best": fb.best == i,
                    "image_sha1": _image_hash(img),
                    "oracle": self.cfg.oracle,
                }
                f.write(json.dumps(label) + "\n")

    def _grid_dir(self) -> Path:
        d = self.folder / "grids"
        d.mkdir(exist_ok=True)
        return d

    def _evaluate(self, epoch: int) -> tuple[Evaluation, Evaluation | None]:
        """This epoch's judged images from the method's evaluation noises and from N(0, I) ones (the same batch
        for most methods; for HERO, its model apart from its noise; None when `eval_std_noise` is off)."""
        # Evaluation noises are fixed within a run (epochs differ only by what was learned) and differ between
        # seeds, so that seed-to-seed spread includes sampling variance (SD-pretrained too).
        eval_seed = self.cfg.eval_seed + self.cfg.seed
        noise = self.method.eval_noise(self.cfg.eval_n, eval_seed)
        ev = self._judged(noise, "eval", epoch)
        contact_sheet(ev.images, ev.feedback.good, None).save(self._grid_dir() / f"epoch_{epoch:03d}_eval.png")
        standard = Method.eval_noise(self.method, self.cfg.eval_n, eval_seed)
        if torch.equal(noise, standard):
            return ev, ev
        return ev, self._judged(standard, STD_NOISE_EVAL, epoch) if self.cfg.eval_std_noise else None

    def _judged(self, noise: torch.Tensor, subfolder: str, epoch: int) -> Evaluation:
        ev = evaluate(
            self.pipe,
            self.task,
            self.judge,
            n=self.cfg.eval_n,
            seed=self.cfg.eval_seed + self.cfg.seed,
            settings=self.settings,
            noise=noise,
            prompts=self.method.eval_prompts(self.cfg.eval_n),
            prompt_cache=self.prompt_cache,
        )
        ev.save(self.folder / subfolder / f"epoch_{epoch:03d}")
        return ev

    def _record(self, epoch: int, t0: float, stats: dict[str, float], fb: Feedback | None) -> None:
        ev, ev_std = stage_timed("evaluation", self._evaluate, fresh=epoch == 0)(epoch)
        lo, hi = wilson_interval(ev.successes, ev.n)
        self.rows.append(
            {
                "method": self.cfg.label,
                "base_method": self.cfg.method,
                "variant": self.cfg.variant,
                "task": self.task.name,
                "seed": self.cfg.seed,
                "epoch": epoch,
                "feedback_used": self.feedback_used,
                "success_rate": ev.success_rate,
                "success_ci_low": lo,
                "success_ci_high": hi,
                "n_eval": ev.n,
                "oracle": self.cfg.oracle,
                "judge": self.cfg.judge,
                "uses_feedback": type(self.method).uses_feedback,
                "own_eval_noise": self.method.has_own_eval_noise(),
                "success_rate_std_noise": ev_std.success_rate if ev_std is not None else float("nan"),
                "train_good_fraction": (fb.n_good / len(fb)) if fb is not None else float("nan"),
                "wall_time_s": round(time.time() - t0, 3),
                **{f"stat_{k}": v for k, v in stats.items()},
            }
        )


def run_one(
    cfg: RunConfig,
    folder: Path,
    resume: bool = False,
    progress: bool = True,
    note: Callable[[str], None] | None = print,
    resumable: bool = True,
) -> pd.DataFrame:
    """Run one config in `folder`, or reuse its finished run with identical settings, or continue its
    interrupted one from the checkpoint; `note` hears which of the last two happened. Every executor
    (in process, or a Ray worker) goes through here, so they treat a folder alike."""
    done = finished_result(folder, cfg)
    if done is not None:
        if note is not None:
            note(f"reusing the finished run {folder} (same settings{other_code(folder)})")
        return done
    # an interrupted run with the same settings continues from its checkpoint instead of failing
    again = resume or ((folder / CHECKPOINT).exists() and same_settings(folder, cfg))
    if again and note is not None and not resume:
        note(f"resuming the interrupted run {folder} (same settings{other_code(folder)})")
    return Run(cfg, folder, progress=progress, resumable=resumable).execute(resume=again)


def run_many(
    cfgs: list[RunConfig], root: Path, resume: bool = False, progress: bool = True, resumable: bool = True
) -> pd.DataFrame:
    """Run every config into its folder under `root`; returns and writes the combined results table.
    A finished run with identical settings is reused, not repeated."""
    say = print if progress else None
    tables = [run_one(cfg, run_dir_for(root, cfg), resume, progress, say, resumable) for cfg in cfgs]
    table = pd.concat(tables, ignore_index=True)
    write_results_table(root)
    return table


def resume_all(folder: Path, progress: bool = True, device: str | None = None) -> pd.DataFrame:
    """Continue every run under `folder` (a single run folder or a root of many) from its checkpoint, on `device`
    when given (else the device each run's config asks for)."""
    runs = [(cfg.model_copy(update={"device": device}) if device else cfg, run) for cfg, run in runs_under(folder)]
    tables = []
    for cfg, run in runs:
        if progress and (made_by := other_code(run)) and not (run / DONE).exists():
            print(f"resuming {run}{made_by}")
        tables.append(Run(cfg, run, progress=progress).execute(resume=True))
    return pd.concat(tables, ignore_index=True)
