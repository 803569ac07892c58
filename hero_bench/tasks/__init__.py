"""Benchmark tasks as data: the Task schema, the declarative toy-world check, and the loader."""

from hero_bench.tasks.base import (
    DREAMBOOTH_TOKEN,
    Category,
    ClipTexts,
    DreamBoothPrompts,
    Task,
    VQAItem,
    World,
)
from hero_bench.tasks.loader import TASKS, list_tasks, load_task, load_task_file, registered_tasks
from hero_bench.tasks.rules import Check, Include, Match, explain, passes

__all__ = [
    "DREAMBOOTH_TOKEN",
    "TASKS",
    "Category",
    "Check",
    "ClipTexts",
    "DreamBoothPrompts",
    "Include",
    "Match",
    "Task",
    "VQAItem",
    "World",
    "explain",
    "list_tasks",
    "load_task",
    "load_task_file",
    "passes",
    "registered_tasks",
]
