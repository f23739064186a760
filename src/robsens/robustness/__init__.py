"""Noise injection (the corrupt stage) and the robustness stage: corrupted accuracy, RFS."""
