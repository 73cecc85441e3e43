"""Voice-agent transcripts: a few hundred templates built from fixed phrases, personalised per call in SQL.

Templates are assembled in Python (hash-chosen phrases, no RNG) and loaded into a temp table; each call
then fills the placeholders {company}, {name}, {service}, {date}, {time} with `replace()`, which keeps
the bulk INSERT fast while every transcript differs.
"""

from __future__ import annotations

import hashlib

from dataguard_pipelines.sandbox.demo.sql import lit

BOOKING, CANCEL, RESCHEDULE, INFO, HANGUP, REMINDER = range(6)
KINDS = 6
TEMPLATES_PER_KIND = 48

_GREETINGS = (
    "Agent: {company}, guten Tag! Sie sprechen mit dem digitalen Assistenten. Wie kann ich Ihnen helfen?",
    "Agent: Herzlich willkommen bei {company}. Mein Name ist Clara, ich bin die KI-Assistentin. "
    "Was kann ich für Sie tun?",
    "Agent: Hallo und guten Tag bei {company}! Worum geht es bei Ihnen?",
)
_OPENINGS = {
    BOOKING: (
        "User: Hallo, ich hätte gern einen Termin für {service}.",
        "User: Ja hallo, ich wollte fragen, ob Sie nächste Woche noch was frei haben – für {service}.",
        "User: Guten Tag, {name} hier. Ich bräuchte mal wieder einen Termin, {service} bitte.",
    ),
    CANCEL: (
        "User: Hallo, ich muss leider meinen Termin am {date} absagen.",
        "User: Guten Tag, hier ist {name}. Ich schaffe es am {date} nicht, können Sie den Termin stornieren?",
    ),
    RESCHEDULE: (
        "User: Hallo, ich habe einen Termin, würde ihn aber gern verschieben.",
        "User: Ja, {name} hier, mir ist was dazwischengekommen. Kann ich meinen Termin verlegen?",
    ),
    INFO: (
        "User: Hallo, ich wollte nur kurz fragen, wie lange Sie heute geöffnet haben.",
        "User: Guten Tag, was kostet bei Ihnen eigentlich {service}?",
        "User: Hi, kann man bei Ihnen vor der Tür parken?",
        "User: Hallo, nehmen Sie auch neue Kunden an?",
    ),
}
_MIDDLE = (
    (
        "Agent: Gern. Haben Sie einen Wunschtag oder eine bevorzugte Uhrzeit?",
        "User: Am liebsten vormittags, so ab neun. Dienstag oder Donnerstag wäre gut.",
    ),
    (
        "Agent: Einen Moment bitte, ich schaue in den Kalender … Ich hätte Dienstag um 9:30 Uhr oder "
        "Donnerstag um 11 Uhr.",
        "User: Hm, Dienstag ist schlecht, da habe ich schon was. Geht auch später am Donnerstag?",
    ),
    (
        "Agent: Darf ich noch Ihren vollständigen Namen haben?",
        "User: Ja, {name}. Soll ich das buchstabieren?",
    ),
    (
        "Agent: Nicht nötig, danke. Unter welcher Nummer erreichen wir Sie am besten?",
        "User: Am besten auf dem Handy, die Nummer sollte Ihnen angezeigt werden.",
    ),
    (
        "Agent: Waren Sie schon einmal bei uns, oder ist es Ihr erster Besuch?",
        "User: Ich war schon mal da, ist aber bestimmt ein Jahr her.",
    ),
    (
        "Agent: Gibt es etwas, das wir vorab wissen sollten, zum Beispiel Allergien oder Vorerkrankungen?",
        "User: Nein, eigentlich nicht. Oder doch – ich vertrage kein Latex.",
    ),
    (
        "Agent: Das habe ich notiert. Möchten Sie eine Erinnerung per SMS am Vortag?",
        "User: Ja, gerne, das wäre super 👍",
    ),
    (
        "Agent: Wie lange dauert {service} ungefähr? Wir planen normalerweise ausreichend Zeit ein.",
        "User: Ach so, okay. Und muss ich irgendwas mitbringen?",
    ),
    (
        "Agent: Bitte bringen Sie Ihre Versichertenkarte bzw. Ihre Unterlagen mit, falls vorhanden.",
        "User: Alles klar, mache ich.",
    ),
    (
        "Agent: Entschuldigung, die Verbindung war kurz schlecht. Können Sie das bitte wiederholen?",
        "User: Ich sagte: lieber nachmittags, nach der Arbeit, so ab halb fünf.",
    ),
    (
        "Agent: Nachmittags wird es diese Woche leider knapp. Nächste Woche wäre am {date} um {time} Uhr "
        "noch etwas frei.",
        "User: Das klingt gut, das nehme ich.",
    ),
    (
        "Agent: Möchten Sie zu einer bestimmten Mitarbeiterin oder einem bestimmten Mitarbeiter?",
        "User: Egal, Hauptsache es klappt zeitlich.",
    ),
    (
        "Agent: Wir haben übrigens auch samstags geöffnet, falls Ihnen das besser passt.",
        "User: Nein, unter der Woche ist schon okay.",
    ),
    (
        "Agent: Zur Sicherheit: Ist die E-Mail-Adresse, die wir hinterlegt haben, noch aktuell?",
        "User: Ähm, ich glaube, die hat sich geändert. Ich schicke Ihnen die neue einfach per Mail.",
    ),
    (
        "Agent: Kein Problem. Parkplätze finden Sie direkt im Hof, die Einfahrt ist neben der Apotheke.",
        "User: Ah, gut zu wissen, danke.",
    ),
    (
        "Agent: Wie sind Sie auf uns aufmerksam geworden, wenn ich fragen darf?",
        "User: Eine Freundin hat Sie empfohlen. Die war sehr zufrieden.",
    ),
    (
        "Agent: Das freut uns zu hören! Dann trage ich das so ein.",
        "User: Moment, ich muss kurz in meinen Kalender schauen … ja, passt.",
    ),
    (
        "Agent: Die Kosten für {service} werden vor Ort abgerechnet, Kartenzahlung ist möglich.",
        "User: Prima. Bar geht aber auch, oder?",
    ),
    (
        "Agent: Selbstverständlich, bar oder mit Karte, wie Sie möchten.",
        "User: Okay. Und wenn ich mich mal verspäte?",
    ),
    (
        "Agent: Bei bis zu zehn Minuten Verspätung ist das in der Regel kein Problem; rufen Sie dann kurz an.",
        "User: Verstehe. Dann hoffe ich mal, dass die Bahn pünktlich ist.",
    ),
)
_CLOSINGS = {
    BOOKING: (
        "Agent: Perfekt, {name}. Ich habe Ihnen {service} am {date} um {time} Uhr eingetragen. "
        "Sie bekommen gleich eine Bestätigung per SMS.\nUser: Super, danke!\n"
        "Agent: Sehr gerne. Auf Wiederhören!"
    ),
    CANCEL: (
        "Agent: Ich habe Ihren Termin am {date} um {time} Uhr storniert. Möchten Sie gleich einen "
        "neuen vereinbaren?\nUser: Nein, ich melde mich dann nochmal. Danke!\n"
        "Agent: Alles klar. Tschüss!"
    ),
    RESCHEDULE: (
        "Agent: Erledigt: Ihr neuer Termin für {service} ist am {date} um {time} Uhr, den alten "
        "habe ich freigegeben.\nUser: Vielen Dank, das ging ja schnell.\nAgent: Gern geschehen!"
    ),
    INFO: (
        "Agent: Kann ich sonst noch etwas für Sie tun?\nUser: Nein, das war's schon. Danke!\n"
        "Agent: Sehr gerne. Einen schönen Tag noch!"
    ),
}
_HANGUPS = (
    "User: Hallo? … Hallo?",
    "User: Oh, Entschuldigung, falsch verbunden.",
    "User: Ich wollte eigentlich mit einem Menschen sprechen.\nAgent: Ich verbinde Sie gern mit dem Team.",
    "",
)
_REMINDER = (
    "Agent: Guten Tag {name}, hier ist der Assistent von {company}. Ich rufe an, um Sie an Ihren "
    "Termin für {service} am {date} um {time} Uhr zu erinnern. Passt das weiterhin?\n"
    "User: Ja, passt, danke für die Erinnerung.\nAgent: Wunderbar, dann bis dann!"
)


def _hint(*parts: object) -> int:
    return int(hashlib.md5(":".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def template(kind: int, n: int) -> str:
    """The n-th transcript template of a kind; lengths run from a few hundred bytes to about 4 KB."""
    greeting = _GREETINGS[_hint("g", kind, n) % len(_GREETINGS)]
    if kind == HANGUP:
        tail = _HANGUPS[n % len(_HANGUPS)]
        return greeting + ("\n" + tail if tail else "") + "\n"
    if kind == REMINDER:
        return _REMINDER + "\n"
    lines = [greeting]
    openings = _OPENINGS[kind]
    lines.append(openings[_hint("o", kind, n) % len(openings)])
    turns = 0 if kind == INFO and n % 3 == 0 else 1 + _hint("k", kind, n) % 16
    for j in range(turns):
        agent, user = _MIDDLE[_hint("m", kind, n, j) % len(_MIDDLE)]
        lines += [agent, user]
    lines.append(_CLOSINGS[kind])
    return "\n".join(lines) + "\n"


def templates_sql() -> list[str]:
    """The temp table `_dg_tpl(kind, n, body)` every call's transcript is cut from."""
    rows = ",\n".join(
        f"({kind}, {n}, {lit(template(kind, n))})" for kind in range(KINDS) for n in range(TEMPLATES_PER_KIND)
    )
    return [
        "CREATE TEMP TABLE _dg_tpl (kind int, n int, body text, PRIMARY KEY (kind, n)) ON COMMIT DROP",
        f"INSERT INTO _dg_tpl VALUES\n{rows}",
        "ANALYZE _dg_tpl",
    ]


def personalise(body: str, company: str, name: str, service: str, starts_at: str) -> str:
    """SQL that fills a template's placeholders; `starts_at` is a timestamptz expression (UTC)."""
    return (
        f"replace(replace(replace(replace(replace({body}, '{{company}}', {company}), '{{name}}', {name}), "
        f"'{{service}}', {service}), '{{date}}', to_char({starts_at} AT TIME ZONE 'UTC', 'DD.MM.YYYY')), "
        f"'{{time}}', to_char({starts_at} AT TIME ZONE 'UTC', 'HH24:MI'))"
    )
