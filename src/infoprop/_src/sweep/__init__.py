"""Sweep implementation: spec parsing, store layout, tile execution (public face: ``infoprop.sweep``)."""
