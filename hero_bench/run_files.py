"""The names of the files in a run folder (`<out>/<task>/<method>/seed<k>/`), in a module without heavy imports so
that readers of run folders (the report, the executors) need not load torch to know them."""

CHECKPOINT = "checkpoint.pt"  # live state, removed once DONE marks the run finished
RESULTS = "results.csv"
FEEDBACK_LOG = "feedback.jsonl"
CONFIG = "config.json"
TASK = "task.json"
DONE = "done.json"
MODEL = "model.json"  # which weights the run loaded (hero_bench.model_identity)
STD_NOISE_EVAL = "eval_std_noise"  # evaluation images from N(0, I) noises of a method with its own (HERO)
