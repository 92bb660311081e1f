"""Human-facing output: progress bar, summary tables, sample listings."""
