"""Celery worker pools: one module per pipeline stage, plus the sweeper."""
