"""Rendering of command results for people (rich) and for machines (JSON)."""
