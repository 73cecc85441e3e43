"""Loopback emulators of the Cal.com API v2 and the Retell API, serving the demo companies' data.

A client cannot tell them from the vendors except by base URL: same paths, headers, JSON shapes, errors,
pagination and rate limits (shared/reference/apis.md). Tests and the demo inject faults at runtime.
"""

from dataguard_pipelines.sandbox.emulators.calcom import CalcomApp
from dataguard_pipelines.sandbox.emulators.faults import Faults
from dataguard_pipelines.sandbox.emulators.retell import RetellApp
from dataguard_pipelines.sandbox.emulators.server import EmulatorServer, running_emulators
from dataguard_pipelines.sandbox.emulators.state import EmulatorState, demo_api_keys

__all__ = [
    "CalcomApp",
    "EmulatorServer",
    "EmulatorState",
    "Faults",
    "RetellApp",
    "demo_api_keys",
    "running_emulators",
]
