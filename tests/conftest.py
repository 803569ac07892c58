"""Shared test setup: never touch the network, keep CPU use small, share one tiny pipeline."""

from __future__ import annotations

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # before any Hugging Face import: hub ids must fail fast, not retry
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One torch thread per process, here and in every `hero-bench` subprocess a test starts: the suite runs one
# pytest-xdist worker per core (scripts/test.sh), and two intra-op threads per worker on a shared core spin
# against each other (a CLI run measured 8x slower that way than with one thread).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _xdist_group_is_honoured(request):
    """A test marked `xdist_group` fails, rather than silently running beside its group, when `--dist
    loadgroup` did not group it: pytest-xdist marks a grouped test by appending `@<group>` to its node id,
    which pytest 9.2 ignores (pytest-xdist#1386), and the Ray tests then ran on two workers at once."""
    grouped = request.node.get_closest_marker("xdist_group") is not None
    if grouped and os.environ.get("PYTEST_XDIST_WORKER") and request.config.getvalue("loadgroup"):
        assert "@" in request.node.nodeid, (
            "--dist loadgroup did not group this test (pytest-xdist#1386); `pip install -e '.[test]'` "
            "installs a pytest whose node ids pytest-xdist can mark"
        )


@pytest.fixture(scope="session")
def tiny_pipe():
    """A random-weight SD pipeline without LoRA, shared read-only across tests (do not attach LoRA)."""
    from hero_bench.testing import tiny_sd_pipeline

    return tiny_sd_pipeline(seed=0)


@pytest.fixture
def fresh_tiny_pipe():
    """A new tiny pipeline per test, for tests that attach LoRA or train."""
    from hero_bench.testing import tiny_sd_pipeline

    return tiny_sd_pipeline(seed=0)


@pytest.fixture
def tiny_noise():
    """Four initial latents matching the tiny pipeline (4 x 8 x 8)."""
    return torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(1234))


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium through Playwright, shared by the browser tests of a module."""
    from tests.browser import ARGS, CHROMIUM

    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (test extra)")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def crash_runs_at_epoch(monkeypatch):
    """`crash(2)` makes every run raise KeyboardInterrupt when it reaches epoch 2 (a stopped session);
    `crash(None)` lets runs through again."""
    from hero_bench.runs import Run

    original = Run._train_epoch

    def crash(at: int | None) -> None:
        def train_epoch(self, epoch):
            if epoch == at:
                raise KeyboardInterrupt("simulated crash")
            return original(self, epoch)

        monkeypatch.setattr(Run, "_train_epoch", original if at is None else train_epoch)

    return crash


@pytest.fixture
def load_script():
    """Loads a module of scripts/ (file names with dashes), for the diagnostics whose figures docs/ quotes."""
    import importlib.util

    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "scripts" / name
        spec = importlib.util.spec_from_file_location(name.replace("-", "_").removesuffix(".py"), path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
