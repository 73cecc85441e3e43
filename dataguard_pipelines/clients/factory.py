"""The one way to get a company's vendor client: its own key from the credential store, nothing shared."""

from __future__ import annotations

from dataguard_pipelines.clients.calcom import CalcomClient
from dataguard_pipelines.clients.retell import RetellClient
from dataguard_pipelines.core.credentials import CompanyCredentials
from dataguard_pipelines.core.errors import ConfigError
from dataguard_pipelines.core.mirror.schema import RESOURCE_SOURCE, SOURCES

__all__ = ["RESOURCE_SOURCE", "SOURCES", "client_for"]


def client_for(
    source: str,
    credentials: CompanyCredentials,
    *,
    calcom_base_url: str,
    retell_base_url: str,
    requests_per_minute: int | None = None,
    **options,
) -> CalcomClient | RetellClient:
    """A new client for one company and one source; ConfigError when that company has no key for it.

    `requests_per_minute`: None keeps the client's vendor default; 0 turns client-side pacing off.
    """
    if requests_per_minute is not None:
        options["requests_per_minute"] = requests_per_minute or None
    if source == "calcom":
        if not credentials.calcom_key:
            raise ConfigError(
                f"company {credentials.company_id} has no Cal.com key; run `dataguard credentials set "
                f"--company {credentials.company_id} --calcom-key …`"
            )
        return CalcomClient(api_key=credentials.calcom_key, base_url=calcom_base_url, **options)
    if source == "retell":
        if not credentials.retell_key:
            raise ConfigError(
                f"company {credentials.company_id} has no Retell key; run `dataguard credentials set "
                f"--company {credentials.company_id} --retell-key …`"
            )
        return RetellClient(api_key=credentials.retell_key, base_url=retell_base_url, **options)
    raise ConfigError(f"unknown source {source!r}; use calcom or retell")
