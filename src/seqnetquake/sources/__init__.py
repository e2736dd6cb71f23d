"""Readers (and, for the simulator, writers) of the raw formats: one module per source."""
