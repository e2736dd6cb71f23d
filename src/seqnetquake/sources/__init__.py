"""Readers (and, for the simulator, writers) of the raw formats: one module per source.

``formats`` is the one table satellite -> format module (``cses``, ``demeter``; the protocol is
``base.SourceFormat``); ``catalog_sources`` reads the catalogue CSVs and ``kp`` the Kp records.
"""
