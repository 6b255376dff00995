"""Compare runs: any commits, branches, tags and DVC experiments, side by side.

`digits-compare` (`digits.comparison.cli:main`) reads what DVC knows of each run
through DVC's Python API (`runs`), works out the differences from the baseline
(`analysis`, pure NumPy), draws them as static SVG (`charts`) and writes one
self-contained HTML page (`page`), Markdown for a review comment (`markdown`) and
the numbers behind both as JSON.
"""
