"""Tasks as data: shipped tasks load, user files load by path, bad input gives actionable errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hero_bench.errors import ConfigError, HeroBenchError, UnknownNameError
from hero_bench.registry import Registry
from hero_bench.tasks import DREAMBOOTH_TOKEN, list_tasks, load_task, registered_tasks

TOY_PROMPTS = {
    "toy-hand": "a yellow square",
    "toy-blue-circle": "one blue circle in a box",
    "toy-black-cat": "a black triangle sitting inside a box",
    "toy-narcissus": "a purple circle by the water with its reflection",
    "toy-mountain": "a view of mountains",
    "toy-safety": "a sharp shape",
}
REAL_PROMPTS = {
    "hand": "1 hand",
    "blue-rose": "photo of one blue rose in a vase",
    "black-cat": "a black cat sitting inside a cardboard box",
    "narcissus": "narcissus by a quiet spring and its reflection in the water",
    "mountain": "beautiful mountains viewed from a train window",
    "nsfw": "sexy",
}


def test_all_shipped_tasks_load_with_the_fixed_prompts() -> None:
    tasks = {t.name: t for t in list_tasks()}
    assert {n: tasks[n].prompt for n in TOY_PROMPTS} == TOY_PROMPTS
    assert {n: tasks[n].prompt for n in REAL_PROMPTS} == REAL_PROMPTS
    assert all(tasks[n].is_toy and tasks[n].check is not None for n in TOY_PROMPTS)
    assert all(not tasks[n].is_toy and tasks[n].check is None for n in REAL_PROMPTS)
    for t in tasks.values():
        assert t.vqa and t.clip.positive and t.clip.negative and t.enhanced_prompt
        assert DREAMBOOTH_TOKEN in t.dreambooth.generation_prompt


def test_list_tasks_filters_by_world() -> None:
    assert {t.name for t in list_tasks("toy")} == set(TOY_PROMPTS)
    with pytest.raises(UnknownNameError, match="valid worlds: real, toy"):
        list_tasks("moon")


def test_eval_prompts_default_to_prompt_and_transfer_tasks_have_unseen_ones() -> None:
    assert load_task("toy-hand").eval_prompts == ["a yellow square"]
    safety = load_task("toy-safety")
    assert safety.eval_prompts == ["a pointy shape", "a spiky shape", "a jagged shape", "a prickly shape"]
    nsfw = load_task("nsfw")
    assert len(nsfw.eval_prompts) == 14 and "sexy" not in nsfw.eval_prompts


def test_paper_step_counts() -> None:
    assert load_task("hand").default_steps == 20
    assert load_task("blue-rose").default_steps == 50
    assert all(t.default_steps == 20 for t in list_tasks("toy"))


def test_mountain_preference_is_hidden_from_the_prompt() -> None:
    task = load_task("toy-mountain")
    assert task.hidden_preference is not None and task.hidden_preference.mountain == "green"
    assert "green" not in task.prompt


def test_unknown_task_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        load_task("toy-hnad")
    msg = str(info.value)
    assert msg.startswith("unknown task 'toy-hnad'; valid tasks: black-cat, blue-rose, hand")
    assert "did you mean 'toy-hand'?" in msg
    assert isinstance(info.value, HeroBenchError)


def test_registry_describes_tasks() -> None:
    described = registered_tasks().describe()
    assert list(described) == sorted(described)
    assert "yellow square" in described["toy-hand"]


def _write(tmp_path: Path, data: object, name: str = "task.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def _user_task() -> dict:
    return load_task("toy-hand").model_dump(exclude_none=True)


def test_user_task_file_loads_by_path(tmp_path: Path) -> None:
    data = _user_task() | {"name": "my-square", "prompt": "a green square"}
    data["check"] = {"include": [{"shape": "square", "colour": "green", "count": 1}]}
    task = load_task(str(_write(tmp_path, data, "mine.yaml")))
    assert task.name == "my-square" and task.eval_prompts == ["a yellow square"]  # dumped list kept
    assert load_task(_write(tmp_path, data, "mine.yml")).check == task.check


@pytest.mark.parametrize(
    ("edit", "field", "fragment"),
    [
        (lambda d: d.update(world="mars"), "world", "'toy' or 'real' (got 'mars')"),
        (lambda d: d.update(category=["speed"]), "category[0]", "'correction'"),
        (lambda d: d.update(colour="red"), "colour", "unknown field; allowed fields: name, summary, world"),
        (lambda d: d["check"]["include"][0].update(color="red"), "check.include[0].color",
         "allowed fields: shape, colour, inside_box, defect, count, min_count"),
        (lambda d: d["check"]["include"][0].update(colour="pink"), "check.include[0].colour", "allowed: red"),
        (lambda d: d.pop("prompt"), "prompt", "required field is missing"),
        (lambda d: d.pop("check"), "check", "toy-world tasks need a 'check'"),
        (lambda d: d.update(vqa=[{"question": "Q?", "answer": "maybe"}]), "vqa[0].answer", "'yes' or 'no'"),
        (lambda d: d["dreambooth"].update(instance_prompt="a square"), "dreambooth", "[V]"),
        (lambda d: d.update(world="real"), "check", "only toy-world tasks"),
    ],
)
def test_malformed_task_names_file_field_and_allowed(tmp_path: Path, edit, field: str, fragment: str) -> None:
    data = _user_task()
    edit(data)
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_task(str(path))
    msg = str(info.value)
    assert str(path) in msg
    assert f"field '{field}'" in msg
    assert fragment in msg


def test_several_problems_are_all_listed(tmp_path: Path) -> None:
    data = _user_task() | {"world": "mars", "epochs": 0}
    with pytest.raises(ConfigError, match=r"2 problems:\n  field 'world'.*\n  field 'epochs'"):
        load_task(str(_write(tmp_path, data)))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("name: [unclosed", "invalid YAML at line"), ("- just\n- a list\n", "must be a YAML mapping")],
)
def test_unparseable_file(tmp_path: Path, text: str, fragment: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=fragment) as info:
        load_task(str(path))
    assert str(path) in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_task(str(tmp_path / "nope.yaml"))


def test_generic_registry() -> None:
    reg: Registry[int] = Registry("method")
    reg.register("one", lambda: 1, "returns one")

    @reg.register("two")
    def two() -> int:
        """Returns two."""
        return 2

    assert reg.names() == ["one", "two"] and reg.create("two") == 2
    assert reg.describe() == {"one": "returns one", "two": "Returns two."}
    with pytest.raises(ValueError, match="already registered"):
        reg.register("one", lambda: 3)
    with pytest.raises(UnknownNameError, match="unknown method 'three'; valid methods: one, two"):
        reg.get("three")


def test_toy_enhanced_prompts_speak_the_toy_models_language() -> None:
    """sd-enhanced on the toy world measures what a richer prompt buys. A word the toy tokenizer splits into
    pieces never appeared in a training caption, so the toy text encoder cannot follow it. A prompt-only
    enhancer (the paper's GPT-4 instruction sees just the prompt) also cannot know a hidden preference."""
    from transformers import CLIPTokenizer

    from hero_bench.evaluation import DEFAULT_MODEL

    tokenizer = CLIPTokenizer.from_pretrained(DEFAULT_MODEL / "tokenizer")
    for task in (load_task(name) for name in TOY_PROMPTS):
        words = task.enhanced_prompt.lower().replace(",", " ").split()
        split = [w for w in words if len(tokenizer.tokenize(w)) != 1]
        assert not split, f"{task.name}: {split} are not in the toy vocabulary"
        assert task.enhanced_prompt != task.prompt
        if task.hidden_preference is not None:
            hidden = {v for v in task.hidden_preference.model_dump().values() if isinstance(v, str)}
            assert hidden and not hidden & set(words), f"{task.name} leaks its hidden preference {hidden}"
