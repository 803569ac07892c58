"""`hero-bench run --config FILE`: a flag overrides the file only when it is given (issue 16), and `--sweep`
applies to a file's runs too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from hero_bench.cli.grid import GridRequest, build_grid, warn_unread_flags
from hero_bench.errors import ConfigError

CLI = [sys.executable, "-m", "hero_bench.cli"]
FILE = {"task": "toy-hand", "method": "hero-random-noise", "seed": 3, "budget": 4, "batch": 4, "eval_n": 4, "steps": 6}


def settings_file(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({**FILE, **changes}))
    return path


def request(**given) -> GridRequest:
    """What `run` passes on when only `given` flags were typed (everything else: not given)."""
    base: dict = dict(tasks=None, methods=None, seeds=1, seed_start=None, preset=None, sweep=None)
    return GridRequest(**{**base, **given})


def test_a_files_method_and_seed_run_and_a_sweep_applies_to_them(tmp_path):
    """End to end: the file's method (not `--method`'s default, hero) and seed (not 0) run, once per swept value."""
    path = settings_file(tmp_path)
    out = tmp_path / "runs"
    other = out / "toy-hand" / "hero" / "seed9"  # also: another grid's run under the same --out, still going
    other.mkdir(parents=True)
    (other / "results.csv").write_text("task,method,seed,epoch,feedback_used,success_rate\ntoy-hand,hero,9,0,0,0.1\n")
    (other / "checkpoint.pt").write_bytes(b"")
    r = subprocess.run([*CLI, "run", "--config", str(path), "--sweep", "best_ratio=0,1", "--out", str(out)],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert "1 run(s) under" in " ".join(r.stdout.split()) and "still in progress" in r.stdout
    assert set(pd.read_csv(out / "results.csv").seed) == {3}  # the run in progress is left out
    made = sorted(p.parent.relative_to(out).as_posix() for p in out.glob("*/*/seed*/config.json"))
    assert made == ["toy-hand/hero-random-noise+best_ratio=0/seed3", "toy-hand/hero-random-noise+best_ratio=1/seed3"]
    for folder, beta in zip(made, (0.0, 1.0), strict=True):
        cfg = json.loads((out / folder / "config.json").read_text())
        assert (cfg["method"], cfg["seed"], cfg["hero"]["best_ratio"], cfg["budget"]) == (
            "hero-random-noise",
            3,
            beta,
            4,
        )


def test_flags_that_are_not_given_leave_the_file_alone(tmp_path):
    path = settings_file(tmp_path, preset="official-code", oracle_options={"flip_prob": 0.1, "best_rule": "random"})
    (cfg,) = build_grid(request(), path)
    assert (cfg.method, cfg.seed, cfg.preset, cfg.budget) == ("hero-random-noise", 3, "official-code", 4)
    assert cfg.hero.noise_variance == 0.01 and cfg.oracle_options == {"flip_prob": 0.1, "best_rule": "random"}


def test_flags_that_are_given_win_key_by_key(tmp_path):
    path = settings_file(tmp_path, oracle_options={"flip_prob": 0.1, "best_rule": "random"},
                         hero={"triplet_margin": 0.3}, judge="clip", judge_options={"margin": 0.2, "batch_size": 8})
    cfgs = build_grid(
        request(methods=["sd-pretrained", "hero"], seeds=2, seed_start=5, preset="official-code",
                fields={"budget": 8, "oracle_options": {"flip_prob": 0.3}, "judge_options": {"margin": 0.1}},
                hero={"best_ratio": 1.0}),
        path,
    )  # fmt: skip
    assert [(c.method, c.seed) for c in cfgs] == [("sd-pretrained", 5), ("hero", 5), ("sd-pretrained", 6), ("hero", 6)]
    for c in cfgs:
        assert (c.preset, c.budget, c.batch, c.task) == ("official-code", 8, 4, "toy-hand")
        # the flag's key wins, the file's other stays
        assert c.oracle_options == {"flip_prob": 0.3, "best_rule": "random"}
        assert c.judge_options == {"margin": 0.1, "batch_size": 8}
        assert (c.hero.best_ratio, c.hero.triplet_margin, c.hero.noise_variance) == (1.0, 0.3, 0.01)


def test_tasks_given_with_a_file_each_get_the_files_settings(tmp_path):
    cfgs = build_grid(request(tasks=["toy-hand", "toy-mountain"]), settings_file(tmp_path))
    assert [(c.task, c.method, c.budget) for c in cfgs] == [
        ("toy-hand", "hero-random-noise", 4),
        ("toy-mountain", "hero-random-noise", 4),
    ]


@pytest.mark.parametrize(
    ("changes", "flags", "message"),
    [
        ({"method": "heroo"}, [], "heroo"),
        ({"budget": 2}, [], "budget"),
        ({}, ["--best-ratio", "2"], "best_ratio"),
        ({}, ["--sweep", "bestratio=0,1"], "unknown field 'bestratio'"),
        ({}, ["--sweep", "ddpo.best_ratio=0,1"], "unknown field 'ddpo.best_ratio'"),
        ({"method": "d3po-style"}, ["--sweep", "k_steps=2,3"], "--sweep k_steps: no method of this grid reads it"),
    ],
)
def test_a_bad_file_or_flag_is_one_line_and_exit_2(tmp_path, changes, flags, message):
    path = settings_file(tmp_path, **changes)
    r = subprocess.run([*CLI, "run", "--config", str(path), *flags, "--out", str(tmp_path / "runs")],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr and message in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / "runs").exists()


def test_method_options_are_checked_for_every_method_of_the_grid():
    """Plain KEY=VALUE options go to every method that takes options, so each must accept them; a method that
    takes none (HERO, sd-pretrained) may leave them alone in such a grid, but not when they are named for it or
    when nothing in the grid would read them (they would be dropped without a word)."""
    shared = request(tasks=["toy-hand"], methods=["d3po-style", "hero"], fields={"method_options": {"beta": 0.2}})
    assert [c.method_options for c in build_grid(shared, None)] == [{"beta": 0.2}] * 2
    for methods, options, message in [
        (["d3po-style", "dreambooth"], {"beta": 0.2}, "method_options of dreambooth: field 'beta'"),
        (["hero"], {"beta": 0.2}, "hero takes no method options"),
        (["d3po-style", "sd-pretrained"], {"sd-pretrained": {"beta": 0.2}}, "sd-pretrained takes no method options"),
    ]:
        with pytest.raises(ConfigError, match=message):
            build_grid(request(tasks=["toy-hand"], methods=methods, fields={"method_options": options}), None)


def test_a_swept_field_may_be_named_with_its_section_as_in_a_config_file():
    """`hero.best_ratio` (how a --config file nests it) sweeps the same runs, in the same folders, as `best_ratio`."""
    fields = {"budget": 4, "batch": 4, "steps": 6}
    runs = [build_grid(request(tasks=["toy-hand"], methods=["hero"], sweep=s, fields=fields), None)
            for s in ("best_ratio=0,1", "hero.best_ratio=0,1")]  # fmt: skip
    assert [(c.variant, c.hero.best_ratio) for c in runs[1]] == [("best_ratio=0", 0.0), ("best_ratio=1", 1.0)]
    assert runs[0] == runs[1]
    ddpo = build_grid(request(tasks=["toy-hand"], methods=["hero"], sweep="ddpo.k_steps=2", fields=fields), None)
    assert ddpo[0].ddpo.k_steps == 2


@pytest.mark.parametrize("config", [False, True])
def test_a_method_that_does_not_read_the_swept_setting_runs_once(tmp_path, config):
    """HERO at each best_ratio, ddpo-reward at each k_steps; d3po-style and sd-pretrained read neither, so a
    sweep would only repeat the same run (and give the report a row per value), with or without a --config."""
    fields = {"budget": 4, "batch": 4, "steps": 6}
    path = settings_file(tmp_path) if config else None
    methods = ["hero", "d3po-style", "sd-pretrained"]
    for sweep, sweeps in (("best_ratio=0,1", {"hero"}), ("k_steps=2,3", {"hero", "ddpo-reward"})):
        grid = request(tasks=["toy-hand"], methods=[*methods, "ddpo-reward"], sweep=sweep, seeds=2, fields=fields)
        cfgs = build_grid(grid, path)
        runs = [(c.method, c.variant, c.seed) for c in cfgs]
        assert len(runs) == len(set(runs)), runs
        start = 3 if config else 0  # the file's seed
        for m in [*methods, "ddpo-reward"]:
            expected = {v for v in sweep.split("=")[1].split(",")} if m in sweeps else {""}
            got = {c.variant.partition("=")[2] for c in cfgs if c.method == m}
            assert got == expected and {c.seed for c in cfgs if c.method == m} == {start, start + 1}, (m, runs)


def test_a_task_method_or_swept_value_named_twice_is_one_run():
    """`--method hero,hero` (or a repeated task or sweep value) was run once and then reported as reused runs."""
    from hero_bench.cli.common import split

    twice = request(tasks=split("toy-hand,toy-hand"), methods=split("hero, hero,d3po-style"),
                    sweep="k_steps=2,2", fields={"budget": 4, "batch": 4, "steps": 6})
    cfgs = build_grid(twice, None)
    assert [(c.task, c.method, c.variant) for c in cfgs] == [
        ("toy-hand", "hero", "k_steps=2"), ("toy-hand", "d3po-style", "")  # d3po-style reads no ddpo setting
    ]


def test_k_above_the_steps_refuses_only_methods_that_train_k_steps():
    """`--steps 4` with the default K=5: HERO and ddpo-reward would train more steps than they sample; the
    other methods ignore K, and were refused all the same."""
    few = {"budget": 4, "batch": 4, "steps": 4}
    others = ["sd-pretrained", "d3po-style", "dreambooth"]
    ok = build_grid(request(tasks=["toy-hand"], methods=others, fields=few), None)
    assert [c.steps for c in ok] == [4, 4, 4]
    for method in ("hero", "hero-binary", "ddpo-reward"):
        with pytest.raises(ConfigError, match=r"ddpo.k_steps \(K=5\) cannot exceed steps \(4\)"):
            build_grid(request(tasks=["toy-hand"], methods=[method], fields=few), None)


def test_resume_refuses_flags_that_would_change_a_run(tmp_path):
    """`--resume DIR --budget 1024` used to continue the runs at their own budget without a word. A flag that
    describes a run is refused by name with --resume (one line, exit 2), and the runs are left as they were."""
    path = settings_file(tmp_path)
    out = tmp_path / "runs"
    subprocess.run([*CLI, "run", "--config", str(path), "--out", str(out)], check=True, capture_output=True)
    table = out / "results.csv"
    before = table.read_bytes()
    r = subprocess.run([*CLI, "run", "--resume", str(out), "--budget", "8", "--method", "hero", "--seeds", "2"],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "--budget, --method, --seeds with --resume" in " ".join(r.stderr.split()), r.stderr
    assert table.read_bytes() == before
    ok = subprocess.run([*CLI, "run", "--resume", str(out), "--target", "0.3"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


def test_a_flag_no_method_of_the_grid_reads_is_named_in_a_warning(capsys):
    """`--method d3po-style --lr 1e-3` trains at d3po-style's own learning rate: the flag changes nothing, and the
    command says so (one line on stderr) instead of dropping it without a word."""
    fields = {"budget": 4, "batch": 4, "steps": 6}
    for methods, given, expected in [
        (["d3po-style"], dict(ddpo={"learning_rate": 1e-3}), "warning: --lr: no method of this grid reads it"),
        (["sd-pretrained", "dreambooth"], dict(hero={"best_ratio": 0.9}, ddpo={"k_steps": 2}),
         "warning: --best-ratio: no method of this grid reads it (sd-pretrained, dreambooth)"),
        (["sd-pretrained"], dict(preset="official-code"), "warning: --preset official-code: no method"),
        (["sd-pretrained", "sd-enhanced"], dict(fields={**fields, "lora_rank": 8}), "warning: --lora-rank: no method"),
        (["hero", "sd-pretrained"], dict(hero={"best_ratio": 0.9}, ddpo={"k_steps": 2}), None),
    ]:  # fmt: skip
        grid = request(tasks=["toy-hand"], methods=methods, **{"fields": fields, **given})
        warn_unread_flags(grid, build_grid(grid, None))
        err = " ".join(capsys.readouterr().err.split())
        assert (expected in err) if expected else "warning" not in err, (methods, err)


def test_the_command_warns_and_runs(tmp_path):
    """End to end: the warning line, then the runs (an error, if any, would come alone: test_executors)."""
    r = subprocess.run([*CLI, "run", "--task", "toy-hand", "--method", "sd-pretrained", "--best-ratio", "0.9",
                        "--budget", "4", "--batch", "4", "--eval-n", "2", "--steps", "4", "--out", str(tmp_path)],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stderr.startswith("warning: --best-ratio: no method of this grid reads it (sd-pretrained)"), r.stderr
    assert (tmp_path / "results.csv").exists()


def test_settings_a_method_does_not_read_do_not_make_it_another_run(tmp_path):
    """A ddpo-reward run made in a grid with `--best-ratio 0.9` (for its HERO runs) is the run a grid without the
    flag asks for: ddpo-reward reads DDPO settings, not HERO's. Another DDPO learning rate is another run."""
    from hero_bench.config import build_run_config
    from hero_bench.run_folders import run_dir_for
    from hero_bench.run_identity import finished_result
    from hero_bench.runs import run_many

    tiny = dict(budget=4, batch=4, eval_n=2, steps=6, seed=0)
    made = build_run_config("toy-hand", "ddpo-reward", hero={"best_ratio": 0.9}, ddpo={"k_steps": 2}, **tiny)
    run_many([made], tmp_path, progress=False)
    folder = run_dir_for(tmp_path, made)
    assert finished_result(folder, build_run_config("toy-hand", "ddpo-reward", ddpo={"k_steps": 2}, **tiny)) is not None
    other_lr = build_run_config("toy-hand", "ddpo-reward", ddpo={"k_steps": 2, "learning_rate": 1e-3}, **tiny)
    assert finished_result(folder, other_lr) is None
    assert finished_result(folder, made.model_copy(update={"lora_rank": 8})) is None  # it trains a LoRA
    plain = build_run_config("toy-hand", "sd-pretrained", lora_rank=8, **tiny)  # trains nothing: rank unread
    run_many([plain], tmp_path, progress=False)
    assert finished_result(run_dir_for(tmp_path, plain), plain.model_copy(update={"lora_rank": 4})) is not None
