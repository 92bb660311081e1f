"""Test helpers: a fast, scriptable stand-in for an OpenAI-compatible HTTP server."""
