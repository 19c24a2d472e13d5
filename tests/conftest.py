"""Shared test configuration. The `ollama_sandbox` fixture comes from the package's
pytest plugin (entry point `pytest11`), exactly as users' own suites get it."""
