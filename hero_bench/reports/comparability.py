"""Settings the methods of one task must share for a report's rows to be compared, and the words for a mix.

Why: `hero-bench report A B` puts every run of a task in one table, whatever settings each folder ran with. Runs
judged by another judge, sampled from another model (or with other steps, guidance or eta), or given another
feedback budget or oracle, sit side by side as if the method were the only difference. The report does not refuse such a
mix (a budget is sometimes the variable under study, as in the paper's D3PO-at-5K against HERO), but says so above
the success table and on the terminal, naming which methods ran which way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from hero_bench.model_identity import recorded_model
from hero_bench.reports.runs import Run


def _named_with_options(run: Run, key: str) -> str:
    """`clip {"margin": 0.1}`: a judge or oracle as the config names it, with its options when it has any."""
    options = run.config.get(f"{key}_options") or {}
    return str(run.config.get(key, "?")) + (f" {json.dumps(options, sort_keys=True)}" if options else "")


def _judged(run: Run) -> str | None:
    return _named_with_options(run, "judge")


def _sampled(run: Run) -> str | None:
    """What decides the images a judge sees besides the method: the model's weights (as `model.json` records
    them: `model: null` names whichever embedded default the code shipped then) and the sampler's settings."""
    c = run.config
    steps = c.get("steps")
    record = recorded_model(run.path) or {}  # a damaged model.json is a one-line error naming it, as config.json
    weights = str(record.get("fingerprint", "not recorded"))[:12]
    return (f"model {c.get('model') or 'embedded toy model'} (weights {weights}), "
            f"{steps if steps else 'default'} steps, guidance {c.get('guidance_scale', '?')}, eta {c.get('eta', '?')}")


def _learns(run: Run) -> bool:
    """Whether the run asked for feedback (older results without the column count as learners)."""
    return "uses_feedback" not in run.results or bool(run.results["uses_feedback"].any())


def _budget(run: Run) -> str | None:
    """A learner's feedback budget; methods that ask for no feedback have none to compare."""
    return f"budget {run.config.get('budget', '?')}" if _learns(run) else None


def _fed(run: Run) -> str | None:
    """Who gave a learner its feedback: the oracle and its options."""
    return _named_with_options(run, "oracle") if _learns(run) else None


@dataclass(frozen=True)
class Aspect:
    """One setting to compare: how a run reads it, the report's head for a task that mixes it, and why that
    matters."""

    setting: Callable[[Run], str | None]
    head: str  # formatted with task and n
    consequence: str


ASPECTS = (
    Aspect(_judged, "{task} was judged in {n} ways",
           "success rates judged differently are not comparable; compare methods judged the same way only"),
    Aspect(_sampled, "{task} was sampled in {n} ways",
           "methods that start from another model or sample with other settings differ for reasons other than "
           "the method; compare methods sampled the same way only"),
    Aspect(_budget, "the learners on {task} had {n} feedback budgets",
           "their final success rates (this table) compare different amounts of feedback; the curves and the "
           "feedback-to-target table compare them at equal feedback"),
    Aspect(_fed, "the learners on {task} were given feedback by {n} oracles",
           "their differences include the oracles' own (a study of oracles wants that; a comparison of methods "
           "compares learners fed by the same oracle)"),
)  # fmt: skip


@dataclass(frozen=True)
class Mix:
    """A task whose methods ran one aspect in several ways: `ways` maps each way to the method labels that ran it
    (in the order the runs were read)."""

    task: str
    aspect: Aspect
    ways: dict[str, list[str]]

    @property
    def head(self) -> str:
        return self.aspect.head.format(task=self.task, n=len(self.ways))

    @property
    def which(self) -> str:
        """`clip: d3po; simulated: hero, sd-pretrained`."""
        return "; ".join(f"{how}: {', '.join(labels)}" for how, labels in self.ways.items())

    def paragraph(self) -> str:
        return f"**{self.head}** ({self.which}): {self.aspect.consequence}."

    def warning(self) -> str:
        return f"{self.head} ({self.which}): {self.aspect.consequence}"


def mixes(runs: list[Run]) -> list[Mix]:
    """Every (task, aspect) whose runs differ, judge first: what a report must say before its tables."""
    found = []
    for aspect in ASPECTS:
        per_task: dict[str, dict[str, set[str]]] = {}
        for r in runs:
            how = aspect.setting(r)
            if how is not None:
                per_task.setdefault(r.key[0], {}).setdefault(how, set()).add(str(r.results["label"].iloc[0]))
        found += [Mix(task, aspect, {how: sorted(labels) for how, labels in ways.items()})
                  for task, ways in per_task.items() if len(ways) > 1]  # fmt: skip
    return found
