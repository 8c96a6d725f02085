"""The staff web app (filled in below)."""
