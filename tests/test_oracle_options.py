"""Oracle options (`--oracle-option`, `--judge-option`): the names checked before torch loads are the ones the
oracle classes take, a typo is a one-line error, and the judge's options reach the judge."""

from __future__ import annotations

import importlib
import inspect
import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from hero_bench.config import build_run_config
from hero_bench.errors import HeroBenchError
from hero_bench.oracles import ORACLE_OPTIONS, ORACLES, check_oracle_options
from hero_bench.oracles.option_values import OPTION_VALUES
from hero_bench.runs import Run, run_dir_for

CLI = [sys.executable, "-m", "hero_bench.cli"]
CLASSES = {
    "simulated": ["hero_bench.oracles.simulated:SimulatedOracle"],
    "clip": ["hero_bench.oracles.clip:ClipOracle"],
    "blip-vqa": ["hero_bench.oracles.blip_vqa:BlipVQAOracle"],
    # the vlm oracle hands what it does not take itself to its transport (an endpoint or a local model)
    "vlm": [
        "hero_bench.oracles.vlm:VLMOracle",
        "hero_bench.oracles.vlm_transport:ChatCompletionsTransport",
        "hero_bench.oracles.vlm_transport:LocalVLMTransport",
    ],
    "human": ["hero_bench.oracles.human:HumanOracle"],
}
INJECTED = {"self", "seed", "parser", "quality", "clip", "transport", "transport_options"}  # objects, not options
SET_BY_VLM = {"base_url", "max_concurrency"}  # transport parameters the vlm oracle fills from its own


def _keywords(target: str) -> set[str]:
    module, name = target.split(":")
    return set(inspect.signature(getattr(importlib.import_module(module), name).__init__).parameters)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_the_listed_options_are_the_oracle_classes_parameters(name):
    assert set(CLASSES) == set(ORACLES.names()) == set(ORACLE_OPTIONS)
    taken = set().union(*(_keywords(t) for t in CLASSES[name])) - INJECTED
    listed = set(ORACLE_OPTIONS[name])
    assert listed <= taken | SET_BY_VLM, f"listed but not taken: {listed - taken}"
    assert taken - SET_BY_VLM <= listed, f"taken but not listed: {taken - listed}"


def test_a_misspelt_option_is_named_with_the_valid_ones():
    check_oracle_options("clip", {"model": "x", "margin": 0.1, "seed": 3})
    with pytest.raises(HeroBenchError, match=r"--judge-option: the clip oracle has no option 'margn' \(did you mean "
                       r"'margin'\?\); its options: model, margin"):
        check_oracle_options("clip", {"margn": 0.1}, "--judge-option")


def _defaults(name: str) -> dict[str, object]:
    """Each option's default in the oracle's (or its transports') signature."""
    out: dict[str, object] = {}
    for target in CLASSES[name]:
        module, cls = target.split(":")
        for p in inspect.signature(getattr(importlib.import_module(module), cls).__init__).parameters.values():
            if p.default is not inspect.Parameter.empty:
                out.setdefault(p.name, p.default)
    return out


@pytest.mark.parametrize("name", sorted(OPTION_VALUES))
def test_value_rules_cover_listed_options_and_accept_every_default(name):
    assert set(OPTION_VALUES[name]) <= set(ORACLE_OPTIONS[name])
    defaults = _defaults(name)
    check_oracle_options(name, {k: defaults[k] for k in OPTION_VALUES[name] if k in defaults})


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("simulated", {"flip_prob": "abc"}, "flip_prob='abc' is not usable: Input should be a valid number"),
        ("simulated", {"flip_prob": 1.5}, "flip_prob=1.5 is not usable: Input should be less than or equal to 1"),
        ("clip", {"margin": "abc"}, "margin='abc' is not usable"),  # fell through to the calibrated margins
        ("clip", {"batch_size": 0}, "batch_size=0 is not usable: Input should be greater than or equal to 1"),
        ("blip-vqa", {"batch_size": 2.5}, "batch_size=2.5 is not usable"),
        ("vlm", {"timeout": -1}, "timeout=-1 is not usable: Input should be greater than 0"),
        ("vlm", {"on_malformed": "skip"}, "on_malformed='skip' is not usable: Input should be 'raise' or 'bad'"),
        ("vlm", {"json_mode": "no"}, "json_mode='no' is not usable"),
        ("human", {"port": 70000}, "port=70000 is not usable: Input should be less than or equal to 65535"),
    ],
)
def test_a_value_the_oracle_cannot_use_is_named(name, options, message):
    with pytest.raises(HeroBenchError, match=f"^--oracle-option: the {name} oracle's {re.escape(message)}"):
        check_oracle_options(name, options)


def test_good_values_pass():
    check_oracle_options("clip", {"margin": {"toy-hand": 0.1}, "batch_size": 8})
    check_oracle_options("clip", {"margin": 0})
    check_oracle_options("human", {"port": 0, "timeout": None, "budget": 64})
    check_oracle_options("vlm", {"timeout": 5, "max_retries": 0, "json_mode": False})


def test_the_judge_options_reach_the_judge_and_only_it(tmp_path):
    """A judge that flips every label reports 1 - the success rate of the exact judge on the same images."""
    small = dict(budget=4, batch=4, eval_n=8, steps=6, sample_batch_size=8)
    tables = []
    for judge_options in ({}, {"flip_prob": 1.0}):
        cfg = build_run_config("toy-blue-circle", "sd-pretrained", judge_options=judge_options, **small)
        run = Run(cfg, run_dir_for(tmp_path / str(len(tables)), cfg), progress=False)
        assert run.oracle.flip_prob == 0.0 and run.judge.flip_prob == judge_options.get("flip_prob", 0.0)
        tables.append(run.execute())
    exact, flipped = (t.success_rate.iloc[0] for t in tables)
    assert flipped == pytest.approx(1.0 - exact)


def test_the_cli_passes_judge_flags_into_the_run_config(tmp_path):
    flags = ["run", "--task", "toy-hand", "--method", "sd-pretrained", "--budget", "4", "--batch", "4",
             "--eval-n", "2", "--steps", "6", "--out", str(tmp_path)]  # fmt: skip
    r = subprocess.run([*CLI, *flags, "--judge-option", "flip_prob=1.0"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    saved = json.loads((tmp_path / "toy-hand" / "sd-pretrained" / "seed0" / "config.json").read_text())
    assert saved["judge_options"] == {"flip_prob": 1.0} and saved["oracle_options"] == {}
    assert pd.read_csv(tmp_path / "results.csv").success_rate.between(0, 1).all()


def test_a_person_judging_gets_a_store_and_page_of_their_own_in_the_run_folder(tmp_path):
    """Feedback and judgements from people are kept apart, both in the run folder (so `--resume` finds them),
    and the judge's page takes any free port so that it does not fight the feedback page for 8765."""
    cfg = build_run_config("toy-hand", "sd-pretrained", oracle="human", judge="human", budget=4, batch=4, eval_n=2)
    folder = run_dir_for(tmp_path, cfg)
    run = Run(cfg, folder, progress=False)
    assert run.oracle.store.path == folder / "human_labels.sqlite" and run.oracle.budget == 4
    assert run.judge.store.path == folder / "human_judge_labels.sqlite" and run.judge.budget is None
    assert run.judge.run_id == f"{run.oracle.run_id}/judge" and run.judge.port == 0 != run.oracle.port


def test_a_vlm_option_its_transport_does_not_take_is_one_line():
    """`max_new_tokens` is the local model's, `max_tokens` the endpoint's: the other one is named, not a TypeError."""
    from hero_bench.oracles.vlm import VLMOracle
    from hero_bench.oracles.vlm_transport import TRANSPORT_OPTIONS, VLMEndpointError

    assert set().union(*TRANSPORT_OPTIONS.values()) < set(ORACLE_OPTIONS["vlm"])
    with pytest.raises(VLMEndpointError, match="endpoint takes no option 'max_new_tokens'; its own: backoff"):
        VLMOracle(model="judge", base_url="http://127.0.0.1:9/v1", max_new_tokens=5, cache=False)
