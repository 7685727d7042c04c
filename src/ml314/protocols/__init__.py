"""Inverter protocols as pure byte codecs, one file per protocol, listed in ``registry.py`` by P-code."""
