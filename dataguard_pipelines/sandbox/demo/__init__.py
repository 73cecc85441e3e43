"""Internals of the demo dataset generator; the public API is `dataguard_pipelines.sandbox.demo_data`."""
