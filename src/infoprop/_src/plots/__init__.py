"""Figures, one module per capability; the public face is ``infoprop.plots``."""
