"""Quality gate between bronze and silver (see jobs/quality/validate.py)."""
