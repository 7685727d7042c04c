"""Edges to files: streaming time-series writers/readers and the simulation report."""
