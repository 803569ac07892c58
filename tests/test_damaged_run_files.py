"""A run folder whose config.json or results.csv is damaged (a copy cut short, a hand edit) is named in one
line with exit code 2 by every command that reads it (report, sample, run --resume), not a JSON, pandas or
pydantic traceback; the rest of the folder is left as it was."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hero_bench.errors import ConfigError, HeroBenchError
from hero_bench.run_folders import labels_through_epoch, read_results, read_run_config, read_run_json

CLI = [sys.executable, "-m", "hero_bench.cli"]
RESULTS = "task,method,seed,epoch,feedback_used,success_rate\ntoy-hand,hero,0,0,0,0.5\n"


def _run_folder(root: Path, config: str, results: str = RESULTS) -> Path:
    folder = root / "toy-hand" / "hero" / "seed0"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(config)
    (folder / "results.csv").write_text(results)
    (folder / "done.json").write_text("{}")  # a finished run, damaged afterwards
    return folder


@pytest.mark.parametrize("text", ["", "{\"task\": \"toy-ha", "[1, 2]", "\udcff".encode("utf-8", "surrogatepass")])
def test_a_config_that_is_no_run_config_is_named(tmp_path, text):
    path = tmp_path / "config.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(HeroBenchError, match=f"^{path}: (not valid JSON|expected a JSON object).*restore it"):
        read_run_config(path)


@pytest.mark.parametrize("text", ["", "{", "[]"])
def test_a_runs_task_or_model_record_that_is_damaged_is_named(tmp_path, text):
    """task.json and model.json decide whether a re-issued command may reuse a finished run."""
    path = tmp_path / "task.json"
    path.write_text(text)
    with pytest.raises(HeroBenchError, match=f"^{path}: .*restore it from where the run was made"):
        read_run_json(path)


def test_a_sound_config_reads_back(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"task": "toy-hand", "seed": 2}')
    assert (read_run_config(path).task, read_run_config(path).seed) == ("toy-hand", 2)


@pytest.mark.parametrize(
    "reader, name, text, error, message",
    [
        (read_run_config, "config.json", '{"task": "toy-hand", "seed": -1}', ConfigError,
         "field 'seed': Input should be greater than or equal to 0"),  # named like a settings file's field
        (read_results, "results.csv", "", HeroBenchError, "not a readable results table"),
        (read_results, "results.csv", 'a,b\n"1,2\n', HeroBenchError, "not a readable results table"),
    ],
)
def test_an_invalid_field_or_an_unreadable_table_is_named(tmp_path, reader, name, text, error, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(error, match=f"^{path}: {message}"):
        reader(path)


@pytest.mark.parametrize(
    "config, results, command",
    [
        ("{}garbage", RESULTS, ["report", "{root}", "--out", "{root}/report"]),
        ('{"task": "toy-hand"}', "", ["report", "{root}", "--out", "{root}/report"]),
        ("", RESULTS, ["sample", "--run", "{folder}", "--out", "{root}/images"]),
        ("{", RESULTS, ["run", "--resume", "{root}"]),
        ("{", RESULTS, ["run", "--task", "toy-hand", "--method", "hero", "--out", "{root}"]),  # may it be reused?
    ],
)
def test_commands_refuse_a_damaged_run_in_one_line(tmp_path, config, results, command):
    root = tmp_path / "runs"
    folder = _run_folder(root, config, results)
    argv = [a.format(root=root, folder=folder) for a in command]
    r = subprocess.run([*CLI, *argv], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr[-2000:]
    message = " ".join(r.stderr.split())
    assert message.startswith(f"error: {folder}/") and "Traceback" not in r.stderr, r.stderr
    assert "restore" in message and "remove the run's folder" in message
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "done.json", "results.csv"]  # nothing new


def _label(epoch: int, index: int) -> str:
    return json.dumps({"epoch": epoch, "index": index, "good": True})


def test_labels_past_the_checkpoint_and_a_last_line_cut_short_are_dropped(tmp_path):
    """A run stopped while appending epoch 3's labels: epochs 1-2 are checkpointed, the rest is redone."""
    log = tmp_path / "feedback.jsonl"
    whole = [_label(1, 0), _label(1, 1), _label(2, 0), _label(3, 0)]
    log.write_text("\n".join(whole) + "\n" + _label(3, 1)[:17])
    assert labels_through_epoch(log, 2) == whole[:3]
    assert labels_through_epoch(log, 3) == whole


@pytest.mark.parametrize("damaged", ["{\"epoch\": 1, \"ind", "[]", "{}", "{\"epoch\": \"one\"}"])
def test_a_damaged_label_line_before_the_last_is_named(tmp_path, damaged):
    log = tmp_path / "feedback.jsonl"
    log.write_text("\n".join([_label(1, 0), damaged, _label(1, 2)]) + "\n")
    with pytest.raises(HeroBenchError, match=f"^{log}: line 2 is not a label record .*restore the file"):
        labels_through_epoch(log, 1)
