"""Figures. One module per capability; each function returns a matplotlib Figure (save with
``infoprop._common.save_figure`` for an atomic write). matplotlib is imported lazily."""
