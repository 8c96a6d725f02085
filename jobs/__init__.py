"""baoxue.jobs: the command line, the nightly job, storage and reports."""

__all__: list[str] = []
