"""The report: assembly of the sections each stage family writes."""
