"""Model monitoring: drift and data quality against the baseline, quality from feedback, alerts (docs/monitoring.md)."""
