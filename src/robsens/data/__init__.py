"""Digit sources (procedural and MNIST) and the corner-digit composition."""
