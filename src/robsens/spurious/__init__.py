"""The spurious-background study (docs/science.md section 8): centre digits on a background cue
that agrees with the label in training and is independent of it, or reversed, at test; the
same methods trained on it; accuracy under each cue, cue reliance and RFS; its report section.
"""
