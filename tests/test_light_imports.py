"""What must not import torch: the CLI's start (`--help`, a refused flag) and everything a Ray grid's driver
does (build the grid, place the runs, gather and summarise their tables). torch, diffusers and transformers
cost 6-12 s of CPU to import on the 2-core machines; in a Ray grid the driver paid them on the cores its runs
needed, and every one-line refusal waited for them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from hero_bench.config import build_run_config
from tests.fresh_cli import ENV, HEAVY, cli_in_fresh_interpreter


def _heavy_modules_after(code: str) -> list[str]:
    """Run `code` in a fresh interpreter; the heavy packages it imported."""
    probe = code + f"\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=ENV)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_cli_starts_and_refuses_bad_flags_without_torch():
    code = """
import contextlib, io, sys
from hero_bench.cli import main
for argv in (["--help"], ["--version"], ["run", "--task", "toy-mountain", "--executor", "slurm"]):
    sys.argv = ["hero-bench", *argv]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            main()
        except SystemExit as e:
            assert e.code in (0, 2), e.code
"""
    assert _heavy_modules_after(code) == []


def test_a_ray_grids_driver_plans_places_and_summarises_without_torch(tmp_path):
    """Building a grid with a preset and a sweep, the run folders, the Ray executor module, and the summary of
    finished runs' tables: what `hero-bench run --executor ray` does outside its Ray tasks."""
    runs = tmp_path / "runs" / "toy-mountain" / "hero" / "seed0"
    runs.mkdir(parents=True)
    (runs / "results.csv").write_text(
        "task,method,seed,epoch,feedback_used,success_rate,wall_time_s\n"
        "toy-mountain,hero,0,0,0,0.25,1.0\ntoy-mountain,hero,0,1,16,0.5,2.0\n"
    )
    code = f"""
from pathlib import Path
from hero_bench.cli.grid import GridRequest, build_grid
from hero_bench.cli.summary_table import summary_table
from hero_bench.executors import ray_grid
from hero_bench.run_folders import collect_results, run_dir_for, write_results_table
request = GridRequest(tasks=["toy-mountain", "toy-hand"], methods=["hero", "d3po-style"], seeds=2, seed_start=0,
                      preset="official-code", sweep="k_steps=3,5", fields={{"budget": 32, "batch": 16}},
                      hero={{}}, ddpo={{}}, command="hero-bench run")
cfgs = build_grid(request, None)
assert len(cfgs) == 12, len(cfgs)  # HERO at K=3 and 5, d3po-style (which reads no K) once; 2 tasks, 2 seeds
folders = {{run_dir_for(Path("out"), c) for c in cfgs}}
assert len(folders) == 12
root = Path({str(tmp_path / "runs")!r})
write_results_table(root)
summary_table(collect_results(root), 0.5, "results")
ray_grid.refuse_undistributable(cfgs)
"""
    assert _heavy_modules_after(code) == []
    assert (tmp_path / "runs" / "results.csv").exists()


REFUSALS = [
    (["eval", "--task", "toy-hnad"], "unknown task 'toy-hnad'"),
    (["generate", "--task", "toy-hand", "--model", "{empty}", "--out", "{tmp}/images"], "has no model_index.json"),
    (["run", "--task", "toy-hand", "--method", "hero", "--model", "{empty}", "--out", "{tmp}/runs"], "model_index"),
    (["sample", "--run", "{tmp}/nowhere", "--out", "{tmp}/images"], "is not a run folder"),
    (["sample", "--run", "{tmp}/unfinished", "--out", "{tmp}/images"], "has not finished (no done.json), so it has "
     "no final weights"),  # it sampled the base model under the run's name
    (["report", "{tmp}/nowhere"], "run folder {tmp}/nowhere does not exist"),
    (["report", "{empty}"], "no results.csv under"),
    (["run", "--task", "toy-hand", "--method", "hero", "--out", "{tmp}/damaged"],
     "{tmp}/damaged/toy-hand/hero/seed0/config.json: not valid JSON"),
    (["report", "{tmp}/in-progress", "--out", "{tmp}/report-of-nothing"], "no finished runs with results found under "
     "{tmp}/in-progress (1 still in progress, with a checkpoint and no done.json"),
    (["bench", "--preset", "paper,nope"], "unknown --preset nope"),
    (["bench", "--task", "toy-hnad"], "unknown task 'toy-hnad'"),
    (["regress", "--fault", "typo"], "unknown fault 'typo'"),
    (["calibrate", "--oracle", "simulated", "--gold", "{empty}"], "labels.csv not found"),
    (["label", "--folder", "{tmp}/nowhere", "--task", "toy-hand"], "is not a folder"),
    (["toy", "fidelity", "--model", "{empty}"], "has no model_index.json"),
    (["eval", "--task", "toy-hand", "--model", "{tmp}/partial"], "model folder {tmp}/partial lacks unet/, which its "
     "model_index.json lists"),  # diffusers named the pipeline folder as the one without a config.json
    (["toy", "palette", "--model", "{tmp}/nowhere"], "does not exist"),
    (["gpu-check", "--size", "nope", "--out", "{tmp}/gpu.json"], "--size must be auto, paper or toy"),
    (["eval", "--task", "black-cat"], "the simulated oracle (--judge) can only judge toy-world tasks"),
    (["generate", "--task", "black-cat", "--out", "{tmp}/images"], "the simulated oracle (--oracle) can only judge"),
    (["run", "--task", "black-cat", "--oracle", "vlm", "--out", "{tmp}/runs"], "simulated oracle (--judge)"),
    (["run", "--task", "{tmp}/bare.yaml", "--method", "hero,dreambooth", "--out", "{tmp}/runs"],
     "task 'bare' has no 'dreambooth', which the dreambooth baseline needs"),
    (["run", "--task", "{tmp}/bare.yaml", "--oracle", "clip", "--out", "{tmp}/runs"], "has no 'clip'"),
    (["eval", "--task", "toy-hand", "--judge", "clip", "--judge-option", "margn=0.1"], "has no option 'margn'"),
    (["run", "--task", "toy-hand", "--oracle-option", "flip=0.1", "--out", "{tmp}/runs"], "has no option 'flip'"),
    (["eval", "--task", "toy-hand", "--judge", "clip", "--judge-option", "margin=abc"],
     "the clip oracle's margin='abc' is not usable"),  # it fell through to the calibrated margins
    (["run", "--task", "toy-hand", "--oracle-option", "flip_prob=abc", "--out", "{tmp}/runs"],
     "the simulated oracle's flip_prob='abc' is not usable: Input should be a valid number"),
    (["run", "--task", "toy-hand", "--method", "d3po-style", "--method-option", "betta=0.2", "--out", "{tmp}/runs"],
     "method_options of d3po-style: field 'betta': unknown field; allowed fields:"),
    (["run", "--task", "toy-hand", "--method", "hero", "--method-option", "best_ratio=1", "--out", "{tmp}/runs"],
     "hero takes no method options (got best_ratio)"),
    (["run", "--task", "toy-hand", "--k-steps", "50", "--out", "{tmp}/runs"], "K=50 exceeds the 20 sampling steps"),
    (["run", "--task", "toy-hand", "--method-option", "beta=[1", "--out", "{tmp}/runs"], "'beta=[1': the value is read"
     " as YAML, and it is invalid YAML at line 1, column 3"),
    (["run", "--task", "toy-hand", "--sweep", "best_ratio=[1", "--out", "{tmp}/runs"], "is invalid YAML at line 1"),
    (["run", "--task", "toy-hand", "--method", "d3po-style", "--sweep", "best_ratio=0,1", "--out", "{tmp}/runs"],
     "--sweep best_ratio: no method of this grid reads it (d3po-style); it is a hero setting, read by hero,"),
    (["run", "--config", "{tmp}/bare.yaml", "--out", "{tmp}/runs"], "{tmp}/bare.yaml: field 'task': missing"),
    (["gpu-check", "--dtype", "fp32,fp8", "--out", "{tmp}/gpu.json"], "--dtype takes a comma-separated list"),
    # a VLM endpoint that accepts no connection (a port nothing listens on), or is no URL: before any image
    (["run", "--task", "toy-hand", "--oracle", "human", "--oracle-option", "port={busy_port}", "--out", "{tmp}/runs"],
     "--oracle human: the labelling page cannot listen on 127.0.0.1:{busy_port} (Address already in use); pass "
     "--oracle-option port=N"),
    (["run", "--task", "toy-hand", "--judge", "human", "--judge-option", "port={busy_port}", "--out", "{tmp}/runs"],
     "--judge human: the labelling page cannot listen on 127.0.0.1:{busy_port}"),
    (["run", "--task", "toy-hand", "--judge", "vlm", "--judge-option", "base_url=http://127.0.0.1:{port}/v1",
      "--judge-option", "model=m", "--out", "{tmp}/runs"],
     "--judge vlm: cannot reach the VLM endpoint http://127.0.0.1:{port}/v1 (Connection refused)"),
    (["generate", "--task", "toy-hand", "--oracle", "vlm", "--oracle-option", "base_url=http://127.0.0.1:{port}/v1",
      "--oracle-option", "model=m", "--out", "{tmp}/images"], "--oracle vlm: cannot reach the VLM endpoint"),
    (["eval", "--task", "toy-hand", "--judge", "vlm", "--judge-option", "base_url=htp:/x"],
     "--judge vlm: the VLM endpoint 'htp:/x' is not an http(s) URL with a host"),
    # no VLM judge set up at all, or an endpoint without a model name: it was a failed run once Ray and torch had
    # started (with --executor ray), or an error after torch had loaded
    (["run", "--task", "toy-hand", "--oracle", "vlm", "--executor", "ray", "--out", "{tmp}/runs"],
     "--oracle vlm: the vlm oracle needs a judge: set HERO_VLM_BASE_URL"),
    (["eval", "--task", "toy-hand", "--judge", "vlm", "--judge-option", "base_url=http://127.0.0.1:{busy_port}/v1"],
     "--judge vlm: no model name for the VLM endpoint http://127.0.0.1:{busy_port}/v1: set HERO_VLM_MODEL"),
    # an output folder that is a file (it was an OSError traceback at the first write), a partial last batch, an
    # eta for which DDIM's variance exceeds its budget (NaN latents)
    (["run", "--task", "toy-hand", "--out", "{tmp}/bare.yaml"], "--out {tmp}/bare.yaml is a file; give a folder"),
    (["generate", "--task", "toy-hand", "--out", "{tmp}/bare.yaml/images"], "lies under {tmp}/bare.yaml, which is a"),
    (["report", "{tmp}/runs-done", "--out", "{tmp}/bare.yaml"], "--out {tmp}/bare.yaml is a file"),
    (["report", "{tmp}/runs-done", "--out", "{tmp}/report", "--clip", "{tmp}/nowhere"],
     "--clip (or HERO_BENCH_CLIP) names {tmp}/nowhere, which does not exist"),
    (["run", "--task", "toy-hand", "--budget", "6", "--batch", "4", "--out", "{tmp}/runs"],
     "budget (6) is not a whole number of batches (4): a run judges whole batches, so it would use 4; give 4 or 8"),
    (["run", "--task", "toy-hand", "--eta", "2", "--out", "{tmp}/runs"], "field 'eta': Input should be less than or"),
    (["regress", "--out", "{tmp}/bare.yaml"], "--out {tmp}/bare.yaml is a file; give a folder"),
    # a folder of the grid that holds a run with other settings: the local executor found it only when the grid
    # reached that run (after the runs before it), Ray as a failed run at the end
    (["run", "--task", "toy-hand", "--method", "sd-pretrained,hero", "--out", "{tmp}/other"],
     "{tmp}/other/toy-hand/hero/seed0 already holds a run with other settings or weights"),
    # a folder nothing can be created in though os.access says yes (root, on Linux): a chained-OSError traceback once
    (["run", "--task", "toy-hand", "--out", "/proc/hero-bench-runs"], "--out /proc/hero-bench-runs: cannot write in"),
    (["toy", "train", "--out", "{tmp}/bare.yaml"], "--out {tmp}/bare.yaml is a file; give a folder"),
    (["gpu-check", "--out", "{tmp}/bare.yaml/gpu.json"], "--out's folder {tmp}/bare.yaml is a file; give a folder"),
    (["label", "--task", "toy-hand", "--store", "{tmp}"], "--store {tmp} is a folder; give the SQLite file's path"),
]


def test_bad_input_is_refused_in_one_line_before_torch_loads(tmp_path):
    """Each command checks what it was given (task, model folder, run folder, preset, fault, gold folder)
    before importing torch: a typo is answered in about a second instead of after 7-12 s of imports, and a
    folder without a pipeline is a one-line error, not a library's traceback."""
    empty = tmp_path / "empty"
    empty.mkdir()
    toy_hand = (Path(__file__).parents[1] / "hero_bench/tasks/data/toy-hand.yaml").read_text()
    (tmp_path / "bare.yaml").write_text(toy_hand.split("vqa:")[0].replace("name: toy-hand", "name: bare"))
    (tmp_path / "unfinished").mkdir()
    (tmp_path / "unfinished" / "config.json").write_text('{"task": "toy-hand"}')
    partial = tmp_path / "partial"  # a pipeline copied without its UNet
    partial.mkdir()
    (partial / "model_index.json").write_text('{"unet": ["diffusers", "UNet2DConditionModel"], "vae": null}')
    damaged = tmp_path / "damaged" / "toy-hand" / "hero" / "seed0"  # a copy cut short
    damaged.mkdir(parents=True)
    (damaged / "config.json").write_text('{"task": "toy-')
    busy = tmp_path / "in-progress" / "toy-hand" / "hero" / "seed0"  # stopped after epoch 0, or still going
    busy.mkdir(parents=True)
    (busy / "results.csv").write_text("task,method,seed,epoch,feedback_used,success_rate\ntoy-hand,hero,0,0,0,0.5\n")
    (busy / "config.json").write_text('{"task": "toy-hand"}')
    (busy / "checkpoint.pt").write_bytes(b"")
    other = tmp_path / "other" / "toy-hand" / "hero" / "seed0"  # made with --budget 4
    other.mkdir(parents=True)
    (other / "config.json").write_text(build_run_config("toy-hand", "hero", budget=4, batch=4).model_dump_json())
    done = tmp_path / "runs-done" / "toy-hand" / "hero" / "seed0"
    done.mkdir(parents=True)
    (done / "results.csv").write_text("task,method,seed,epoch,feedback_used,success_rate\ntoy-hand,hero,0,0,0,0.5\n")
    with socket.socket() as s:  # a port nothing listens on once closed: a connection is refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with socket.socket() as busy:  # a port another program listens on (a labelling page cannot take it)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        busy_port = busy.getsockname()[1]
        cases = [[a.format(tmp=tmp_path, empty=empty, port=port, busy_port=busy_port) for a in argv]
                 for argv, _ in REFUSALS]  # fmt: skip
        results = cli_in_fresh_interpreter(cases, cwd=tmp_path)
    for (argv, expected), (code, err, heavy) in zip(REFUSALS, results, strict=True):
        command = " ".join(argv)
        message = " ".join(err.split())  # rich folds long lines to the terminal's width
        assert code == 2, f"{command}: exit {code}\n{err}"
        expected = expected.format(tmp=tmp_path, port=port, busy_port=busy_port)
        assert message.startswith("error: ") and expected in message, f"{command}: {err}"
        assert "Traceback" not in err, f"{command}: {err}"
        assert heavy == [], f"{command} imported {heavy} before refusing"
    assert not (tmp_path / "runs").exists() and not (tmp_path / "images").exists()
    assert not (tmp_path / "other" / "toy-hand" / "sd-pretrained").exists()  # the grid's first run did not start
    assert not (tmp_path / "report-of-nothing").exists()


def test_version_names_the_code_and_the_libraries():
    """`hero-bench --version`: what a bug report or a paper's appendix needs, as the run folders record it."""
    from importlib import metadata

    out = subprocess.run([sys.executable, "-m", "hero_bench.cli", "--version"], capture_output=True, text=True,
                         env=ENV)  # fmt: skip
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert line.startswith(f"hero-bench {metadata.version('hero-bench')}") and "\n" not in line
    for library in ("torch", "diffusers", "peft", "transformers"):
        assert f"{library} {metadata.version(library)}" in line, line
    repo = Path(__file__).resolve().parent.parent
    if (repo / ".git").exists():  # a checkout: the commit the code came from
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
        assert f"@ {head.stdout.strip()[:12]}" in line, line
