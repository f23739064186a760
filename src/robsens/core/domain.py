"""Constants of the corner-digit task (docs/science.md section 1), shared by every layer."""

NUM_CLASSES = 15  # centre digits 0-9, and 10 + c for a centre c in 0-4 with a corner digit
RARE_CLASSES = (10, 11, 12, 13, 14)  # where the corner digit decides the label
