"""Backends turn a graph into something that runs. ``numpy`` is the reference interpreter and the oracle."""
