"""A real person as the oracle: a local labelling page, durable labels, resumable runs.

`HumanOracle.judge` serves the batch at http://127.0.0.1:<port>/?token=... and blocks until the person
submits; labels go to SQLite before the page is told they were saved.
"""

from hero_bench.oracles.human.oracle import HumanOracle, HumanTimeoutError, batch_hash
from hero_bench.oracles.human.store import LabelStore, StoredLabels

__all__ = ["HumanOracle", "HumanTimeoutError", "LabelStore", "StoredLabels", "batch_hash"]
