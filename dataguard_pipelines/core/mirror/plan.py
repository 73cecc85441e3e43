"""Which mirror runs a sync makes: per company, the resources of the sources it holds keys for."""

from __future__ import annotations

from dataclasses import dataclass

from dataguard_pipelines.core.credentials import CredentialStore
from dataguard_pipelines.core.errors import ConfigError
from dataguard_pipelines.core.mirror.schema import SOURCES


@dataclass(frozen=True)
class MirrorRun:
    company_id: str
    resources: tuple[str, ...]


def plan_mirror_runs(
    credentials: CredentialStore, *, company: str | None = None, source: str | None = None
) -> list[MirrorRun]:
    """One run per company (all companies with keys by default); refuses a company without a key asked for."""
    companies = [company] if company else credentials.companies()
    if not companies:
        raise ConfigError("no company has API keys yet; run `dataguard credentials set --company ID ...`")
    sources = [source] if source else list(SOURCES)
    runs = []
    for company_id in companies:
        keys = credentials.get(company_id)
        resources = tuple(r for s in sources if getattr(keys, f"{s}_key") for r in SOURCES[s])
        if not resources:
            raise ConfigError(f"company {company_id} has no key for {' or '.join(sources)}")
        runs.append(MirrorRun(company_id, resources))
    return runs
