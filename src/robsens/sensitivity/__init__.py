"""The sensitivity stage: contextual utility and sensitivity maps and their summaries."""
