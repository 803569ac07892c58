"""Whether a run's method, oracle and judge can work on its task, checked when the grid is built.

Each component says so itself when it starts (`Task.require`, the simulated oracle's refusal), but that is after
torch and the model have loaded, and in a grid after the runs before it have finished. The same checks here,
from the task file alone, refuse a mismatch in a second, before any run starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hero_bench.baselines.options import method_section
from hero_bench.errors import ConfigError, UnsupportedTaskError
from hero_bench.tasks.base import Task

if TYPE_CHECKING:
    from hero_bench.config import RunConfig

# The optional task text each component (oracle or method) reads, and how the message names it: the one place
# the components themselves (`task_text`) and the grid's check read it from.
TASK_TEXTS: dict[str, tuple[str, str]] = {
    "clip": ("clip", "the clip oracle"),
    "blip-vqa": ("vqa", "the blip-vqa oracle"),
    "dreambooth": ("dreambooth", "the dreambooth baseline"),
    "sd-enhanced": ("enhanced_prompt", "sd-enhanced's task-table enhancer"),
}


def task_text(task: Task, component: str) -> Any:
    """The task text `component` reads, or a one-line error naming the field to add (`Task.require`)."""
    return task.require(*TASK_TEXTS[component])


def not_judgeable(task: Task, flag: str = "") -> UnsupportedTaskError:
    """The simulated oracle's refusal of a task it cannot parse (shared with the oracle itself); `flag` names
    the option that chose it (`--oracle`, `--judge`)."""
    where = f" ({flag})" if flag else ""
    return UnsupportedTaskError(
        f"the simulated oracle{where} can only judge toy-world tasks (they have a 'check'); task {task.name!r} is "
        f"a {task.world}-world task: use an oracle that looks at real images (human, vlm, clip or blip-vqa)"
        + (f", e.g. {flag} vlm" if flag else "")
    )


def check_judge_fits(task: Task, oracle: str, flag: str = "") -> None:
    """Refuse an oracle (as trainer or judge) that cannot judge `task`'s images."""
    if oracle == "simulated" and (not task.is_toy or task.check is None):
        raise not_judgeable(task, flag)
    if oracle in TASK_TEXTS:
        task_text(task, oracle)


def check_run_fits(task: Task, method: str, oracle: str, judge: str, method_options: Mapping[str, Any]) -> None:
    """Refuse a run whose method, oracle or judge needs something `task` does not have."""
    check_judge_fits(task, oracle, "--oracle")
    if judge != oracle:
        check_judge_fits(task, judge, "--judge")
    table_enhancer = method != "sd-enhanced" or method_section(method_options, method).get("enhancer", "task") == "task"
    if method in TASK_TEXTS and table_enhancer:  # sd-enhanced reads its text only with the task-table enhancer
        task_text(task, method)


def check_steps(task: Task, cfg: RunConfig) -> None:
    """Refuse a DDPO-K that trains more denoising steps than the run samples (the task's default steps unless
    --steps is given): RunConfig can only check it when the steps are given."""
    from hero_bench.methods import trains_k_steps

    steps = cfg.steps or task.default_steps
    if trains_k_steps(cfg.method) and cfg.ddpo.steps_per_sample(steps) > steps:
        given = "" if cfg.steps else f", task {task.name}'s default"
        raise ConfigError(
            None, "ddpo.k_steps", f"K={cfg.ddpo.k_steps} exceeds the {steps} sampling steps{given}",
            f"K <= {steps}, or more --steps",
        )
