"""A task file needs only what the judge and the prompt need; components that need more say which field."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hero_bench.baselines.enhancers import TaskTableEnhancer
from hero_bench.errors import UnsupportedTaskError
from hero_bench.tasks.base import MissingTaskFieldError
from hero_bench.tasks.fit import check_run_fits
from hero_bench.tasks.loader import load_task

CLI = [sys.executable, "-m", "hero_bench.cli"]

MINIMAL = """\
name: two-red-squares
world: toy
prompt: "two red squares"
success_condition: "Exactly two red squares."
check:
  include:
    - {shape: square, colour: red, count: 2}
"""


@pytest.fixture
def task_file(tmp_path):
    path = tmp_path / "two-red-squares.yaml"
    path.write_text(MINIMAL)
    return path


def test_a_minimal_toy_task_loads_with_defaults(task_file):
    task = load_task(task_file)
    assert task.summary == "Exactly two red squares."
    assert task.category == [] and task.vqa is None and task.clip is None and task.dreambooth is None
    assert task.eval_prompts == ["two red squares"]


def test_generate_works_on_a_minimal_task_file(task_file, tmp_path):
    out = tmp_path / "gen"
    r = subprocess.run(
        [*CLI, "generate", "--task", str(task_file), "--n", "2", "--seed", "0", "--out", str(out), "--json"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["n"] == 2 and (out / "contact_sheet.png").exists()


def test_a_component_needing_a_missing_field_names_it(task_file):
    task = load_task(task_file)
    with pytest.raises(MissingTaskFieldError, match="'enhanced_prompt'.*sd-enhanced"):
        TaskTableEnhancer().enhance(task.prompt, task)
    with pytest.raises(MissingTaskFieldError, match="'vqa'"):
        task.require("vqa", "the blip-vqa oracle")


def test_dreambooth_on_a_task_without_its_prompts_is_a_one_line_error(task_file, tmp_path):
    r = subprocess.run(
        [
            *CLI,
            "run",
            "--task",
            str(task_file),
            "--method",
            "dreambooth",
            "--budget",
            "4",
            "--batch",
            "4",
            "--eval-n",
            "2",
            "--steps",
            "6",
            "--out",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2, r.stderr[-2000:]
    assert "'dreambooth'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "runs").exists()  # refused when the grid is built, before any run folder is made


def test_a_run_is_checked_against_its_task_file_before_it_starts(task_file):
    """What `hero-bench run` checks for every run of a grid before the first one starts."""
    task = load_task(task_file)
    check_run_fits(task, "sd-enhanced", "simulated", "simulated", {"enhancer": "llm"})  # the LLM needs no table
    check_run_fits(task, "sd-enhanced", "simulated", "simulated", {"sd-enhanced": {"enhancer": "llm"}})
    with pytest.raises(MissingTaskFieldError, match="'enhanced_prompt'"):
        check_run_fits(task, "sd-enhanced", "simulated", "simulated", {"d3po-style": {"beta": 0.2}})
    with pytest.raises(MissingTaskFieldError, match="'vqa'.*blip-vqa"):
        check_run_fits(task, "hero", "simulated", "blip-vqa", {})
    real = load_task("black-cat")
    check_run_fits(real, "dreambooth", "human", "clip", {})  # the shipped real tasks have every text
    with pytest.raises(UnsupportedTaskError, match=r"simulated oracle \(--judge\)"):
        check_run_fits(real, "hero", "human", "simulated", {})
