"""Settings shared by every test folder (loaded before any test module imports the CLI)."""

import os

# Rich wraps the CLI's tables and paths at the terminal width; under pytest-xdist the temporary
# paths are longer (``popen-gw1``), so lines that tests read were broken in two. A wide
# terminal keeps each printed line whole.
os.environ.setdefault("COLUMNS", "200")
