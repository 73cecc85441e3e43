"""demo: the whole protection cycle on the embedded default, then the Dagster UI."""

from __future__ import annotations

import typer

from dataguard_pipelines.cli.common import err, guarded, out, settings
from dataguard_pipelines.core.errors import VerificationError


@guarded
def demo(
    no_ui: bool = typer.Option(False, "--no-ui", help="Stop after the continuity report."),
    scale: float = typer.Option(1.0, "--scale", min=0.01, max=100, help="Demo data size (1 ≈ 70 MB)."),
    port: int = typer.Option(3000, "--port", help="Port of the Dagster UI."),
) -> None:
    """Seed the embedded database, run a full protection cycle through Dagster, report, serve the UI."""
    from dataguard_pipelines.demo import run_demo

    if not run_demo(settings(), scale=scale, serve_ui=not no_ui, port=port, out=out, err=err):
        raise VerificationError("the protection cycle did not pass; see the report above")
