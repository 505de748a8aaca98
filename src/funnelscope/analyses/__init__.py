"""Analyses: turn engine outcomes into results people read."""
