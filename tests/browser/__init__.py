"""Real-browser tests (a package, so that JupyterLab and Chromium are package-scoped: they are
stopped as soon as the last browser test has run, not at the end of the whole suite)."""
