"""Run Dagster jobs in-process on the configured instance, so CLI-started runs show in the UI.

Imported lazily by the CLI's commands that launch runs: importing Dagster costs over a second.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataguard_pipelines.core.errors import DataguardError
from dataguard_pipelines.core.settings import Settings, variables_set

DEMO_INSTANCE_YAML = """\
# The demo's Dagster instance: SQLite under DATAGUARD_HOME, written by `dataguard` when DAGSTER_HOME is unset.
# Production uses the repository's deploy/dagster.yaml (PostgreSQL storage, pools, run retries).
run_retries:
  enabled: false
telemetry:
  enabled: false
"""


def _logging(level: str) -> dict[str, Any]:
    return {"loggers": {"console": {"config": {"log_level": level}}}}


@dataclass(frozen=True)
class RunOutcome:
    """The parts of a finished run a person asks about."""

    run_id: str
    success: bool
    metadata: dict[str, Any]
    checks: dict[str, bool]
    error: str = ""
    check_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)


def prepare_instance(settings: Settings) -> Path:
    """Point DAGSTER_HOME at the demo instance unless the environment already chose one."""
    if "DAGSTER_HOME" not in variables_set():
        settings.dagster_home.mkdir(parents=True, exist_ok=True)
        yaml = settings.dagster_home / "dagster.yaml"
        if not yaml.exists():
            yaml.write_text(DEMO_INSTANCE_YAML)
        os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    return Path(os.environ["DAGSTER_HOME"])


def run_job(
    settings: Settings,
    job_name: str,
    *,
    partition_key: str | None = None,
    asset_keys: list[str] | None = None,
    with_checks: bool = True,
    log_level: str = "CRITICAL",
    run_config: dict[str, Any] | None = None,
    dynamic_partitions: tuple[str, list[str]] | None = None,
) -> RunOutcome:
    """Execute one job of the code location in this process, recorded in the instance."""
    import dagster as dg

    from dataguard_pipelines.definitions import defs

    prepare_instance(settings)
    definitions = defs()
    job = definitions.resolve_job_def(job_name)
    if asset_keys is not None:
        keys = {dg.AssetKey(k) for k in asset_keys}
        # checks computed inside the asset's own step cannot be left out; standalone checks can
        in_step = {ck for key in keys for ck in definitions.resolve_assets_def(key).check_keys}
        job = job.get_subset(asset_selection=keys, asset_check_selection=None if with_checks else in_step)
    with dg.DagsterInstance.get() as instance:
        if dynamic_partitions:
            name, keys = dynamic_partitions
            instance.add_dynamic_partitions(
                name, [k for k in keys if not instance.has_dynamic_partition(name, k)]
            )
        try:
            result = job.execute_in_process(
                instance=instance,
                partition_key=partition_key,
                run_config={**(run_config or {}), **_logging(log_level)},
                raise_on_error=False,
            )
        except dg.DagsterError as exc:
            raise DataguardError(f"Dagster refused to run {job_name}: {str(exc).splitlines()[0]}") from exc
        metadata: dict[str, Any] = {}
        for event in result.get_asset_materialization_events():
            for key, value in event.materialization.metadata.items():
                metadata[key] = getattr(value, "value", value)
        evaluations = {
            f"{e.asset_key.to_user_string()} / {e.check_name}": e
            for e in result.get_asset_check_evaluations()
        }
        return RunOutcome(
            run_id=result.run_id,
            success=result.success,
            metadata=metadata,
            checks={name: e.passed for name, e in evaluations.items()},
            error=_failure_message(result),
            check_metadata={
                name: {k: getattr(v, "value", v) for k, v in e.metadata.items()}
                for name, e in evaluations.items()
            },
        )


def _failure_message(result) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error.cls_name.startswith("Dagster") and error.cause is not None:
                error = error.cause
            text = (error.message or error.cls_name).strip().splitlines()[0]
            prefix = text.split(": ", 1)
            return prefix[1] if len(prefix) == 2 and prefix[0].endswith(error.cls_name) else text
    return ""
