"""hero-bench: benchmark harness for fine-tuning text-to-image diffusion models from online feedback."""

__version__ = "0.1.0"
