"""Experiments: statistics by seeded simulation, formulas against scipy."""
