"""The fixed cast of the demo: pricing plans, the eight companies and their shops, in plain Python.

Kept out of SQL so the API emulators and tests can read the same facts the database holds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class PricingPlan:
    """A price list; `rounding` says how a call's duration turns into billable time."""

    id: int
    code: str
    name: str
    per_minute_cents: int
    rounding: str
    included_minutes: int
    appointment_fee_cents: int
    monthly_base_cents: int
    is_active: bool = True


PRICING_PLANS: tuple[PricingPlan, ...] = (
    PricingPlan(1, "starter", "Starter", 29, "up_minute", 0, 0, 0),
    PricingPlan(2, "basic", "Basic", 19, "up_minute", 100, 0, 4900),
    PricingPlan(3, "pro", "Professional", 15, "per_second", 500, 50, 14900),
    PricingPlan(4, "enterprise", "Enterprise", 12, "nearest_minute", 2000, 0, 49900),
    PricingPlan(5, "legacy_flat", "Legacy Flat 2023", 10, "nearest_minute", 0, 100, 9900, is_active=False),
)
PLAN_IDS = {p.code: p.id for p in PRICING_PLANS}


@dataclass(frozen=True)
class DemoCompany:
    """A tenant of the booking SaaS; ids are fixed so tests and emulators can name them."""

    id: int
    name: str
    slug: str
    plan_code: str

    @property
    def calcom_team_id(self) -> int:
        """The Cal.com team that holds the company's event types."""
        return 4000 + self.id

    @property
    def retell_agent_id(self) -> str:
        """The Retell voice agent that answers the company's phone."""
        return "agent_" + hashlib.md5(f"agent:{self.id}".encode()).hexdigest()[:24]

    @property
    def phone_number(self) -> str:
        """The company's public number, the `to_number` of inbound calls."""
        return f"+49{30 + self.id % 60}{5550000 + self.id * 37:07d}"


DEMO_COMPANIES: tuple[DemoCompany, ...] = (
    DemoCompany(1, "Praxis Dr. Weber", "praxis-dr-weber", "starter"),
    DemoCompany(2, "Salon Bella", "salon-bella", "basic"),
    DemoCompany(3, "AutoService Krüger", "autoservice-krueger", "legacy_flat"),
    DemoCompany(7, "Zahnarzt am Markt", "zahnarzt-am-markt", "basic"),
    DemoCompany(12, "Kanzlei Schmidt & Partner", "kanzlei-schmidt-partner", "pro"),
    DemoCompany(42, "FitLab Studios", "fitlab-studios", "enterprise"),
    DemoCompany(85, "Tierarztpraxis Sonnenhof", "tierarztpraxis-sonnenhof", "pro"),
    DemoCompany(101, "Beauty Lounge Wien", "beauty-lounge-wien", "starter"),
)


@dataclass(frozen=True)
class PlanChange:
    """A switch to `plan_code` on day `day` of the month `months_before` the anchor's month."""

    months_before: int
    day: int
    plan_code: str


@dataclass(frozen=True)
class Profile:
    """What a company looks like: where it is, how busy, how long it has been a customer, its shop."""

    industry: str
    city: str
    country: str
    vat_rate_bp: int
    weight: int  # share of customers, appointments and calls, out of 100
    months_active: int  # history length before the anchor (at most 24)
    first_plan: str
    changes: tuple[PlanChange, ...]
    branches: tuple[str, ...]
    staff: int
    services: tuple[tuple[str, int, int], ...]  # name, minutes, price in cents


PROFILES: dict[int, Profile] = {
    1: Profile(
        "physiotherapy",
        "Hamburg",
        "DE",
        1900,
        8,
        24,
        "starter",
        (),
        ("Eppendorf",),
        4,
        (
            ("Krankengymnastik", 25, 3200),
            ("Manuelle Therapie", 30, 4100),
            ("Massage", 30, 3800),
            ("Lymphdrainage", 45, 4900),
            ("Fango & Massage", 50, 5600),
        ),
    ),
    2: Profile(
        "hair salon",
        "München",
        "DE",
        1900,
        12,
        24,
        "basic",
        (),
        ("Schwabing", "Haidhausen"),
        7,
        (
            ("Damenhaarschnitt", 60, 6900),
            ("Herrenhaarschnitt", 30, 3200),
            ("Färben", 90, 9800),
            ("Strähnen", 120, 13500),
            ("Föhnen", 30, 2500),
            ("Brautfrisur", 90, 14900),
        ),
    ),
    3: Profile(
        "car workshop",
        "Köln",
        "DE",
        1900,
        8,
        24,
        "legacy_flat",
        (),
        ("Ehrenfeld",),
        5,
        (
            ("Inspektion", 120, 18900),
            ("Reifenwechsel", 30, 4900),
            ("Ölwechsel", 45, 8900),
            ("HU/AU", 60, 13900),
            ("Klimaservice", 60, 9900),
        ),
    ),
    7: Profile(
        "dentist",
        "Leipzig",
        "DE",
        1900,
        12,
        24,
        "starter",
        (PlanChange(12, 1, "basic"),),
        ("Markt", "Gohlis"),
        8,
        (
            ("Kontrolluntersuchung", 20, 0),
            ("Professionelle Zahnreinigung", 60, 9500),
            ("Füllung", 45, 0),
            ("Bleaching", 90, 34900),
            ("Schmerzsprechstunde", 15, 0),
            ("Implantatberatung", 30, 0),
        ),
    ),
    12: Profile(
        "law firm",
        "Basel",
        "CH",
        810,
        6,
        14,
        "pro",
        (),
        ("Altstadt",),
        4,
        (("Erstberatung", 60, 19000), ("Vertragsprüfung", 90, 29000), ("Folgetermin", 45, 15000)),
    ),
    42: Profile(
        "fitness studio",
        "Berlin",
        "DE",
        1900,
        16,
        24,
        "pro",
        (PlanChange(8, 10, "enterprise"),),
        ("Mitte", "Kreuzberg", "Prenzlauer Berg"),
        10,
        (
            ("Probetraining", 60, 0),
            ("Personal Training", 60, 7900),
            ("Körperanalyse", 30, 2900),
            ("Ernährungsberatung", 45, 5900),
            ("Yoga Einzelstunde", 60, 6500),
            ("Reha-Sport", 45, 0),
        ),
    ),
    85: Profile(
        "veterinary clinic",
        "Frankfurt am Main",
        "DE",
        1900,
        24,
        24,
        "basic",
        (PlanChange(1, 15, "pro"),),
        ("Sachsenhausen", "Bornheim", "Höchst"),
        12,
        (
            ("Allgemeine Untersuchung", 20, 3500),
            ("Impfung", 15, 2500),
            ("Zahnsteinentfernung", 60, 14900),
            ("Kastration Katze", 90, 17900),
            ("Röntgen", 30, 8900),
            ("Notfallsprechstunde", 30, 6900),
            ("Ultraschall", 30, 7900),
        ),
    ),
    101: Profile(
        "beauty salon",
        "Wien",
        "AT",
        2000,
        14,
        5,
        "starter",
        (),
        ("Innere Stadt", "Neubau"),
        6,
        (
            ("Gesichtsbehandlung", 60, 7900),
            ("Maniküre", 45, 3900),
            ("Pediküre", 60, 4900),
            ("Wimpernlifting", 60, 6500),
            ("Augenbrauen", 20, 1900),
        ),
    ),
}

FIRST_NAMES = (
    "Anna",
    "Lukas",
    "Marie",
    "Jonas",
    "Sophie",
    "Leon",
    "Emma",
    "Paul",
    "Mia",
    "Felix",
    "Hannah",
    "Elias",
    "Lena",
    "Noah",
    "Lea",
    "Ben",
    "Jürgen",
    "Özlem",
    "Zoë",
    "Łukasz",
    "Ayşe",
    "Björn",
    "Chloé",
    "Dragan",
    "Ines",
    "Karl-Heinz",
    "Małgorzata",
    "Renée",
    "Søren",
    "Yusuf",
    "Ana María",
    "Günther",
    "Fatma",
    "Niklas",
    "Katharina",
    "Mehmet",
    "Sabine",
    "Tobias",
    "Ursula",
    "Wei",
)
LAST_NAMES = (
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Yılmaz",
    "Kowalski",
    "Nguyen",
    "O'Brien",
    "García López",
    "von der Heide",
    "Dąbrowski",
    "Nowak",
    "Öztürk",
    "Petrović",
    "Groß",
    "Straßer",
    "Ludwig",
    "Kaiser",
    "Fuchs",
)


def company_ids() -> list[int]:
    """The company ids in their fixed order."""
    return [c.id for c in DEMO_COMPANIES]
