"""Endpoints: named, versioned configurations of variants that serve traffic."""
