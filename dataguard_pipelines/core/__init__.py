"""The domain: plain Python, no Dagster import (the CLI and the Dagster layer both call it)."""
