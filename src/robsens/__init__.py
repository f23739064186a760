"""robsens: a reproducible pipeline for the robustness/sensitivity trade-off."""

__version__ = "0.1.0"
