"""Server-side bulk INSERT … SELECT for the tables that grow with the scale: customers, appointments, calls.

Every value is a function of a generate_series index through `sql.h` (hashes), joined to the per-company
lookup table `_dg_co`/`_dg_slot` from `layout.py`, so PostgreSQL builds hundreds of thousands of rows
without a round trip and the same (scale, anchor) always gives the same rows in the same order.
"""

from __future__ import annotations

from dataguard_pipelines.sandbox.demo import transcripts as tx
from dataguard_pipelines.sandbox.demo.companies import FIRST_NAMES, LAST_NAMES
from dataguard_pipelines.sandbox.demo.sql import Ctx, arr, h, lit, pick, u

# Text that trips naive dump/restore code: SQL NULL, the strings NULL and \N, COPY's end marker \.,
# tabs, CR/LF, backslashes, quotes, emoji and non-Latin scripts.
EDGE_NOTES: tuple[str | None, ...] = (
    None,
    "",
    "NULL",
    "\\N",
    "Tab\tgetrennt\tbitte beachten",
    "Zeile 1\nZeile 2\nZeile 3",
    "Pfad C:\\Termine\\neu und ein Backslash am Ende \\",
    'Kunde sagt: "bitte nur vormittags" – it\'s fine',
    "🦷 Angstpatient, bitte viel Zeit einplanen 🙏",
    "Windows-Zeilenende\r\nzweite Zeile",
    "Sonderzeichen: ä ö ü ß € ½ © ™ 日本語 العربية עברית",
    "  führende und folgende Leerzeichen  ",
    ",;|\t\"quoted\",'single'",
    "vor dem Ende\n\\.\nnach dem COPY-Endzeichen",
)
NORMAL_NOTES = (
    "Bevorzugt Termine am Vormittag.",
    "Bitte per SMS erinnern, nicht anrufen.",
    "Kommt mit Begleitperson.",
    "Rechnung an Arbeitgeber.",
    "Hat Parkausweis, Hof nutzen.",
    "Spricht lieber Englisch.",
)
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example", "web.example", "gmx.example")
TAGS = ("stammkunde", "vip", "neukunde", "empfehlung", "zahlt bar", 'VIP, "Gold"', "{geschweift}", "ärger")
CANCEL_REASONS = (
    "Telefonisch abgesagt",
    "Krankheit",
    "Terminkollision",
    "Kunde nicht erschienen",
    "Über Cal.com storniert",
    None,
)
_ASCII_FROM = "äöüßÄÖÜéèêëçłŁşıİąęğøåñóáíúÿ '-"
_ASCII_TO = "aousAOUeeeeclLsiIaegoanoaiuy"


def _ascii(expr: str) -> str:
    return f"lower(translate({expr}, {lit(_ASCII_FROM)}, {lit(_ASCII_TO)}))"


def customers_sql(ctx: Ctx, total: int) -> str:
    """customers, company by company in contiguous id blocks; a few carry hostile text in `notes`."""
    anchor_day = ctx.anchor_day
    return f"""
INSERT INTO customers (id, uuid, company_id, first_name, last_name, email, phone_number, birthday,
    preferred_language, notes, tags, marketing_consent, source, no_show_count, created_at, updated_at,
    deleted_at)
SELECT i, md5('customer:' || i)::uuid, company_id, fn, ln,
    CASE WHEN {h("i", 21, 10)} < 7 THEN {_ascii("fn")} || '.' || {_ascii("ln")} || (i % 97) || '@'
        || {pick(EMAIL_DOMAINS, "i", 22)} END,
    '+49' || (151 + {h("i", 23, 30)}) || lpad({h("i", 24, 100000000)}::text, 8, '0'),
    CASE WHEN {h("i", 25, 10)} < 6 THEN DATE '1940-01-01' + {h("i", 26, 25000)}::int END,
    CASE WHEN {h("i", 27, 10)} = 0 THEN 'en' WHEN {h("i", 27, 10)} = 1 THEN 'tr' ELSE 'de' END,
    CASE WHEN i % 5 = 0 THEN ({arr(EDGE_NOTES)})[1 + (i / 5) % {len(EDGE_NOTES)}]
         WHEN i % 3 = 0 THEN {pick(NORMAL_NOTES, "i", 29)} END,
    CASE {h("i", 30, 5)} WHEN 0 THEN NULL WHEN 1 THEN '{{}}'::text[]
        ELSE ARRAY[{pick(TAGS, "i", 31)}, {pick(TAGS, "i", 32)}] END,
    {h("i", 33, 3)} = 0,
    {pick(("phone_agent", "calcom", "walk_in", "import", "website"), "i", 34)},
    CASE WHEN {h("i", 35, 10)} >= 8 THEN 1 + {h("i", 36, 2)} ELSE 0 END,
    created_at,
    LEAST(created_at + {h("i", 37, 60)} * INTERVAL '1 day', {ctx.ts(str(ctx.days))}),
    CASE WHEN {h("i", 38, 50)} = 0 THEN created_at + INTERVAL '90 days' END
FROM (
    SELECT i, c.company_id, {pick(FIRST_NAMES, "i", 39)} AS fn, {pick(LAST_NAMES, "i", 40)} AS ln,
        {
        ctx.ts(
            f"c.start_day + floor((greatest({anchor_day} - c.start_day, 1)) * {u('i', 41)} ^ 2)::int",
            f"8 * 3600 + {h('i', 42, 36000)}",
        )
    } AS created_at
    FROM generate_series(1, {total}) i
    JOIN _dg_co c ON i > c.cust_base AND i <= c.cust_base + c.cust_n
) s
ORDER BY i"""


def _resched(x: str) -> str:
    """Whether appointment seq `x` is the new booking of a reschedule (its predecessor x-1 is the old one)."""
    x = f"({x})"  # an expression such as `i + 1` must not bind to the `%` below
    return f"({x} % 2 = 0 AND {h(x, 9, 15)} = 0)"


def appointments_sql(ctx: Ctx, total: int) -> str:
    """appointments; about 1 in 30 is a reschedule pair (old booking cancelled, new one points back)."""
    uid = "translate(substr(encode(decode(md5('booking:' || ({x})), 'hex'), 'base64'), 1, 22), '+/', 'qZ')"
    day0 = f"c.start_day + floor(({ctx.days} - c.start_day) * sqrt({u('g', 5)}))::int"
    late = ctx.ts(str(ctx.anchor_day + 14))
    return f"""
INSERT INTO appointments (id, company_id, branch_id, staff_id, service_id, customer_id, calcom_event_type_id,
    calcom_booking_id, calcom_booking_uid, status, source, starts_at, ends_at, rescheduled_from_uid,
    cancelled_at, cancellation_reason, price_cents, notes, metadata, created_at, updated_at, deleted_at)
SELECT i, company_id, branch_id, staff_id, service_id, customer_id, calcom_event_type_id,
    3000000 + i * 3 + {h("i", 14, 3)}, {uid.format(x="i")}, status, source, starts_at,
    starts_at + duration_minutes * INTERVAL '1 minute',
    CASE WHEN is_new THEN {uid.format(x="i - 1")} END,
    cancelled_at,
    CASE WHEN is_old THEN 'Verschoben auf neuen Termin'
         WHEN status = 'cancelled' THEN {pick(CANCEL_REASONS, "i", 15)}
         WHEN status = 'rejected' THEN 'Abgelehnt: keine Kapazität' END,
    price_cents,
    CASE WHEN i % 11 = 0 THEN {pick(NORMAL_NOTES + EDGE_NOTES, "i", 16)} END,
    jsonb_build_object('attendee_time_zone', 'Europe/Berlin', 'reminder_sms', {h("i", 17, 2)} = 0,
        'booking_fields', jsonb_build_object('notes', CASE WHEN i % 9 = 0 THEN 'Erstbesuch' END)),
    created_at,
    COALESCE(cancelled_at, created_at + {h("i", 18, 600)} * INTERVAL '1 second'),
    CASE WHEN status = 'cancelled' AND {h("i", 19, 40)} = 0 THEN cancelled_at + INTERVAL '30 days' END
FROM (
    SELECT a.*,
        CASE WHEN is_old THEN 'cancelled'
             WHEN is_new THEN CASE WHEN starts_at > {late} AND r >= 80 THEN 'pending' ELSE 'accepted' END
             WHEN r < 9 THEN 'cancelled'
             WHEN r < 11 THEN 'rejected'
             WHEN starts_at > {late} AND r >= 88 THEN 'pending'
             ELSE 'accepted' END AS status,
        CASE WHEN is_old THEN mid
             WHEN NOT is_new AND r < 9 THEN created_at + (starts_at - created_at) * {u("i", 20)} END
            AS cancelled_at
    FROM (
        SELECT b.*, {h("i", 12, 100)} AS r,
            CASE WHEN is_new THEN mid ELSE base_created END AS created_at,
            CASE WHEN is_new THEN {ctx.ts(f"LEAST({ctx.days} - 1, new_day)", "slot_s")}
                 ELSE base_starts END AS starts_at,
            CASE WHEN is_new THEN
                (CASE WHEN {h("i", 13, 2)} = 0 THEN 'phone_agent' ELSE 'calcom_web' END)::appointment_source
                 ELSE (CASE WHEN {h("i", 13, 100)} < 60 THEN 'phone_agent'
                            WHEN {h("i", 13, 100)} < 85 THEN 'calcom_web'
                            WHEN {h("i", 13, 100)} < 97 THEN 'staff' ELSE 'import' END)::appointment_source
            END AS source
        FROM (
            SELECT s.*, base_created + (base_starts - base_created) / 2 AS mid,
                {ctx.weekday(f"LEAST({ctx.days} - 1, day0 + 1 + {h('i', 10, 6)})")} AS new_day
            FROM (
                SELECT q.*,
                    {ctx.ts("day0", "slot_s0")} AS base_starts,
                    GREATEST({ctx.ts("day0", "slot_s0")} - (1 + {h("g", 8, 21)}) * INTERVAL '1 day'
                        - {h("g", 11, 36000)} * INTERVAL '1 second', co_created + INTERVAL '1 hour')
                        AS base_created
                FROM (
                    SELECT p.*, c.company_id, c.created_at AS co_created,
                        c.cust_base + 1 + {h("g", 2, "c.cust_n")} AS customer_id,
                        c.staff_base + sk AS staff_id,
                        c.branch_base + 1 + (sk - 1) % c.branch_n AS branch_id,
                        sv.id AS service_id, sv.calcom_event_type_id, sv.duration_minutes, sv.price_cents,
                        {ctx.weekday(day0)} AS day0,
                        (7 + {h("g", 6, 11)}) * 3600 + {h("g", 7, 4)} * 900 AS slot_s0,
                        (7 + {h("i", 6, 11)}) * 3600 + {h("i", 7, 4)} * 900 AS slot_s
                    FROM (
                        SELECT i, g, is_new, is_old, {h("g", 1, 100)} AS slot, {h("g", 4, 1000)} AS sr,
                            {h("g", 3, 1000)} AS kr
                        FROM (
                            SELECT i, CASE WHEN {_resched("i")} THEN i - 1 ELSE i END AS g,
                                {_resched("i")} AS is_new,
                                (i % 2 = 1 AND i < {total} AND {_resched("i + 1")}) AS is_old
                            FROM generate_series(1, {total}) i
                        ) z
                    ) p
                    JOIN _dg_slot c ON c.slot = p.slot
                    JOIN services sv ON sv.id = c.service_base + 1 + p.sr % c.service_n
                    CROSS JOIN LATERAL (
                        SELECT CASE WHEN (k0 + sv.id - c.service_base) % 3 = 0 AND sv.id - c.service_base <> 1
                                    THEN CASE WHEN k0 > 1 THEN k0 - 1 ELSE k0 + 1 END ELSE k0 END AS sk
                        FROM (SELECT 1 + p.kr % c.staff_n AS k0) k
                    ) st
                ) q
            ) s
        ) b
    ) a
) f
ORDER BY i"""


def calls_sql(ctx: Ctx, others: int) -> str:
    """calls: one per phone booking, phone cancellation and reminder, plus `others` questions and hang-ups.

    Ids follow started_at like the app's; the two latest calls are still 'ongoing' / 'registered'.
    """
    key = "(src::int8 * 1000000000 + ref)"
    end_ts = ctx.ts(str(ctx.days - 1), "23 * 3600 + 40 * 60")
    other_day = f"c.start_day + floor(({ctx.days} - c.start_day) * sqrt({u('i', 56)}))::int"
    sentiments = ("Positive", "Positive", "Neutral", "Negative", "Unknown")
    when = "to_char(appt_at_or AT TIME ZONE 'UTC', 'DD.MM.YYYY HH24:MI')"
    body = tx.personalise("t.body", "p.company_name", "p.caller", "p.service_name", "p.appt_at_or")
    return f"""
WITH src AS (
    SELECT 1 AS src, a.id AS ref, a.company_id, a.customer_id, a.id AS appointment_id, a.service_id,
        a.starts_at AS appt_at, 'inbound' AS direction,
        CASE WHEN a.rescheduled_from_uid IS NULL THEN {tx.BOOKING} ELSE {tx.RESCHEDULE} END AS kind,
        a.created_at AS t0, true AS t0_is_end
    FROM appointments a WHERE a.source = 'phone_agent'
    UNION ALL
    SELECT 2, a.id, a.company_id, a.customer_id, a.id, a.service_id, a.starts_at, 'inbound', {tx.CANCEL},
        a.cancelled_at, true
    FROM appointments a WHERE a.status = 'cancelled' AND a.cancellation_reason = 'Telefonisch abgesagt'
    UNION ALL
    SELECT 3, a.id, a.company_id, a.customer_id, a.id, a.service_id, a.starts_at, 'outbound', {tx.REMINDER},
        date_trunc('day', a.starts_at) - INTERVAL '1 day'
            + (10 * 3600 + {h("a.id", 57, 18000)}) * INTERVAL '1 second',
        false
    FROM appointments a
    WHERE a.status = 'accepted' AND {h("a.id", 50, 12)} = 0
        AND date_trunc('day', a.starts_at) - INTERVAL '1 day' > a.created_at
    UNION ALL
    SELECT 4, i, c.company_id,
        CASE WHEN {h("i", 58, 10)} < 6 THEN c.cust_base + 1 + {h("i", 59, "c.cust_n")} END,
        NULL::bigint, c.service_base + 1 + {h("i", 60, "c.service_n")}, NULL::timestamptz, 'inbound',
        CASE WHEN {h("i", 52, 10)} < 7 THEN {tx.INFO} ELSE {tx.HANGUP} END,
        CASE WHEN i > {others} - 2 THEN {end_ts} + (i - {others} + 2) * INTERVAL '5 minutes'
             ELSE {ctx.ts(ctx.weekday(other_day), f"6 * 3600 + {h('i', 61, 46800)}")} END,
        false
    FROM generate_series(1, {others}) i
    JOIN _dg_slot c ON c.slot = {h("i", 51, 100)}
), timed AS (
    SELECT s.*, n,
        CASE WHEN src = 4 AND ref = {others} THEN 'registered'
             WHEN src = 4 AND ref = {others} - 1 THEN 'ongoing'
             WHEN src = 4 AND {h(key, 53, 150)} = 0 THEN 'error' ELSE 'ended' END AS call_status,
        length(t.body) * 62 + {h(key, 54, 9000)} + 1500 AS dur
    FROM src s JOIN _dg_tpl t ON t.kind = s.kind AND t.n = {h(key, 55, tx.TEMPLATES_PER_KIND)}
), ordered AS (
    SELECT row_number() OVER (ORDER BY t_start, src, ref) AS id, x.*
    FROM (
        SELECT timed.*,
            CASE WHEN t0_is_end THEN t0 - dur * INTERVAL '1 millisecond' ELSE t0 END AS t_start
        FROM timed
    ) x
)
INSERT INTO calls (id, company_id, customer_id, retell_call_id, agent_id, direction, from_number, to_number,
    call_status, started_at, ended_at, duration_ms, cost_cents, transcript, disconnection_reason,
    call_analysis, recording_url, appointment_id, created_at, updated_at)
SELECT id, company_id, customer_id, retell_call_id, agent_id, direction,
    CASE WHEN direction = 'inbound' THEN caller_number ELSE company_number END,
    CASE WHEN direction = 'inbound' THEN company_number ELSE caller_number END,
    call_status,
    CASE WHEN call_status <> 'registered' THEN t_start END,
    CASE WHEN call_status = 'ended' THEN t_start + dur * INTERVAL '1 millisecond'
         WHEN call_status = 'error' THEN t_start + INTERVAL '1200 milliseconds' END,
    CASE WHEN call_status = 'ended' THEN dur WHEN call_status = 'error' THEN 0 END,
    CASE WHEN call_status = 'ended' THEN ceil(dur * 11 / 60000.0)::int WHEN call_status = 'error' THEN 0 END,
    CASE WHEN call_status = 'ended' THEN transcript
         WHEN call_status = 'ongoing' THEN split_part(transcript, E'\\n', 1) || E'\\n' END,
    CASE WHEN call_status = 'error'
            THEN {pick(("error_llm_websocket_open", "error_retell", "error_unknown"), key, 62)}
         WHEN call_status <> 'ended' THEN NULL
         WHEN kind = {tx.HANGUP} THEN {pick(("user_hangup", "inactivity", "user_hangup"), key, 63)}
         WHEN voicemail THEN 'voicemail_reached'
         WHEN kind = {tx.INFO} AND {h(key, 64, 10)} = 0 THEN 'call_transfer'
         WHEN {h(key, 65, 5)} < 3 THEN 'agent_hangup' ELSE 'user_hangup' END,
    CASE WHEN call_status = 'ended' THEN jsonb_build_object(
        'call_summary', CASE kind
            WHEN {tx.BOOKING} THEN caller || ' hat ' || service_name || ' für ' || {when} || ' gebucht.'
            WHEN {tx.RESCHEDULE} THEN caller || ' hat auf ' || {when} || ' verschoben.'
            WHEN {tx.CANCEL} THEN caller || ' hat den Termin am ' || {when} || ' abgesagt.'
            WHEN {tx.REMINDER} THEN 'Erinnerung an den Termin am ' || {when} || '.'
            WHEN {tx.INFO} THEN 'Allgemeine Frage, kein Termin gebucht.'
            ELSE 'Anruf ohne Anliegen beendet.' END,
        'in_voicemail', voicemail,
        'user_sentiment', {pick(sentiments, key, 66)},
        'call_successful', kind <> {tx.HANGUP},
        'custom_analysis_data', jsonb_build_object(
            'appointment_booked', kind IN ({tx.BOOKING}, {tx.RESCHEDULE}),
            'service', service_name, 'caller_name', caller))
    END,
    CASE WHEN call_status = 'ended'
        THEN 'https://recordings.retell.example/' || retell_call_id || '/recording.wav' END,
    appointment_id,
    t_start,
    CASE WHEN call_status = 'ended' THEN t_start + (dur + 30000) * INTERVAL '1 millisecond' ELSE t_start END
FROM (
    SELECT p.*, {body} AS transcript
    FROM (
        SELECT o.*, co.name AS company_name, co.retell_agent_id AS agent_id,
            co.phone_number AS company_number,
            'call_' || substr(md5('call:' || o.src || ':' || o.ref), 1, 28) AS retell_call_id,
            COALESCE(cu.first_name || ' ' || cu.last_name, {pick(FIRST_NAMES, key, 67)}) AS caller,
            COALESCE(cu.phone_number, '+4916' || lpad({h(key, 68, 1000000000)}::text, 9, '0'))
                AS caller_number,
            COALESCE(sv.name, 'einen Termin') AS service_name,
            COALESCE(o.appt_at, date_trunc('day', o.t_start) + INTERVAL '7 days 9 hours') AS appt_at_or,
            o.kind = {tx.REMINDER} AND {h(key, 69, 10)} = 0 AS voicemail
        FROM ordered o
        JOIN companies co ON co.id = o.company_id
        LEFT JOIN customers cu ON cu.id = o.customer_id
        LEFT JOIN services sv ON sv.id = o.service_id
    ) p
    JOIN _dg_tpl t ON t.kind = p.kind AND t.n = p.n
) f
ORDER BY id"""


def call_events_sql(ctx: Ctx, keep_days: int = 60) -> str:
    """call_events_raw: the webhook bodies Retell sent per call (call_started, call_ended, call_analyzed);
    like the app, only the last `keep_days` days are kept."""
    ms = "(extract(epoch FROM {x}) * 1000)::bigint"
    base = (
        "'call_id', c.retell_call_id, 'agent_id', c.agent_id, 'call_type', 'phone_call', "
        "'direction', c.direction, 'from_number', c.from_number, 'to_number', c.to_number, "
        f"'start_timestamp', {ms.format(x='c.started_at')}"
    )
    return f"""
INSERT INTO call_events_raw (retell_call_id, event, payload, signature, received_at)
SELECT c.retell_call_id, e.event,
    json_build_object('event', e.event, 'call', CASE e.k
        WHEN 1 THEN json_build_object({base}, 'call_status', 'ongoing')
        WHEN 2 THEN json_build_object({base}, 'call_status', c.call_status,
            'end_timestamp', {ms.format(x="c.ended_at")}, 'duration_ms', c.duration_ms,
            'disconnection_reason', c.disconnection_reason)
        ELSE json_build_object({base}, 'call_status', c.call_status, 'duration_ms', c.duration_ms,
            'call_analysis', c.call_analysis) END)::text,
    'v=' || {ms.format(x="e.at")} || ',d=' || md5(c.retell_call_id || e.event) || md5(e.event || c.id),
    e.at + INTERVAL '300 milliseconds'
FROM calls c
CROSS JOIN LATERAL (VALUES (1, 'call_started', c.started_at), (2, 'call_ended', c.ended_at),
    (3, 'call_analyzed', c.updated_at)) e(k, event, at)
WHERE e.at IS NOT NULL AND (e.k <> 3 OR c.call_analysis IS NOT NULL)
    AND c.created_at >= {ctx.ts(str(ctx.days - keep_days))}
ORDER BY c.id, e.k"""
