"""Baselines a researcher compares HERO against, all driven by the same run loop."""
