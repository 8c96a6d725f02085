"""Alembic migrations of the nightly job's database (run them with ``baoxue db upgrade``)."""
