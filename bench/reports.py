"""`python -m bench reports`: a campaign report over 1,000,000 attempts on PostgreSQL.

Ours: ivr.reports.figures.campaign_figures for the whole campaign, every figure (cases, reach,
first reaching attempt, ratings, escalations and their SLA, reach by local hour, deadlines,
problem cases, audits). Baseline: one bare `GROUP BY` over the same attempt table in the same
run (attempts and reached per hour of day), the least a report over the attempts can read.
ratio = baseline seconds / our seconds (best of 3 each). Target 0.3, and under 2 s absolute.
Needs PostgreSQL (see bench.database). `--size` sets the number of attempts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg

from bench.database import driver_url, scratch_database
from bench.frame import Memory, Options, Outcome
from bench.measure import best_of, profiled, traced_peak
from ivr.campaigns.service import create_campaign
from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.models import Campaign
from ivr.reports.figures import ReportScope, campaign_figures
from ivr.services import Services

TARGET = 0.3
ABSOLUTE_LIMIT_S = 2.0
ATTEMPTS = 1_000_000
PER_CASE = 4  # attempts per case: 250,000 cases for a million attempts
NOW = datetime(2030, 6, 1, 4, 0, tzinfo=UTC)
REPEATS = 3

BASELINE = """
SELECT date_part('hour', placed_at) AS hour, count(*), sum(CASE WHEN reached THEN 1 ELSE 0 END)
FROM attempt GROUP BY 1
"""

# Generated in the server: a million rows through the driver would time the seeding, not us.
SEED = [
    """
    INSERT INTO contact (id, name, phone, language, timezone)
    SELECT n, 'Bench Contact ' || n, '+1202555' || lpad((n % 100 + 100)::text, 4, '0'),
           'zh-CN', 'Asia/Shanghai'
    FROM generate_series(1, %(cases)s) AS n
    """,
    """
    INSERT INTO "case" (id, campaign_id, contact_id, external_ref, anchor_date, department, ward,
                        details, status, outcome, attempts_made, reached_on_attempt, deadline_at,
                        done_at, created_at)
    SELECT n, %(campaign)s, n, 'B-' || lpad(n::text, 7, '0'),
           date '2030-01-01' + (n % 120),
           (ARRAY['Cardiology', 'Neurology', 'Orthopaedics', 'Respiratory'])[n % 4 + 1],
           'W' || (n % 7),
           json_build_object('doctor', 'Dr ' || (n % 40)),
           CASE WHEN n % 20 = 0 THEN 'excluded' ELSE 'done' END,
           CASE WHEN n % 20 = 0 THEN NULL WHEN n % 3 = 0 THEN 'unreachable' ELSE 'completed' END,
           CASE WHEN n % 20 = 0 THEN 0 ELSE %(per_case)s END,
           CASE WHEN n % 20 <> 0 AND n % 3 <> 0 THEN %(per_case)s END,
           timestamp '2030-01-11' + (n % 120) * interval '1 day',
           timestamp '2030-01-08' + (n % 120) * interval '1 day',
           timestamp '2030-01-01'
    FROM generate_series(1, %(cases)s) AS n
    """,
    """
    INSERT INTO attempt (case_id, number, status, call_sid, last_sequence, language, flow_step,
                         reached, error_permanent, created_at, placed_at)
    SELECT c, k, CASE WHEN k = %(per_case)s AND c % 3 <> 0 THEN 'completed' ELSE 'no-answer' END,
           NULL, -1, 'zh-CN', 0, k = %(per_case)s AND c % 3 <> 0,
           false, t, t
    FROM generate_series(1, %(cases)s) AS c, generate_series(1, %(per_case)s) AS k,
         LATERAL (SELECT timestamp '2030-01-08 00:00' + (c % 120) * interval '1 day'
                         + ((c + k) % 9) * interval '1 hour' AS t) AS moment
    WHERE c % 20 <> 0
    """,
    """
    INSERT INTO answer (attempt_id, case_id, question, value, created_at)
    SELECT a.id, a.case_id, 'satisfaction', ((a.case_id % 5) + 1)::text, a.placed_at
    FROM attempt a WHERE a.reached
    """,
    """
    INSERT INTO escalation (case_id, reason, priority, status, triggers, due_at, created_at,
                            updated_at, resolved_at)
    SELECT n, (ARRAY['low_satisfaction', 'complaint', 'unreachable'])[n % 3 + 1], 2,
           CASE WHEN n % 2 = 0 THEN 'resolved' ELSE 'open' END, 1,
           timestamp '2030-01-12' + (n % 120) * interval '1 day', timestamp '2030-01-09',
           timestamp '2030-01-09',
           CASE WHEN n % 2 = 0 THEN timestamp '2030-01-10' + (n % 150) * interval '1 day' END
    FROM generate_series(1, %(cases)s) AS n WHERE n % 25 = 1
    """,
    "VACUUM ANALYZE",
]


def seed(url: str, attempts: int) -> int:
    """A post-discharge campaign with attempts/PER_CASE cases and their attempts; its id."""
    engine = make_engine(url)
    try:
        with make_sessions(engine).begin() as session:
            campaign = create_campaign(
                session, name="bench", template_name="post-discharge", overrides={}, now=NOW
            )
            campaign_id = campaign.id
    finally:
        engine.dispose()
    cases = attempts * 20 // (PER_CASE * 19)  # every 20th case is excluded and never called
    with psycopg.connect(driver_url(url), autocommit=True) as conn:
        for statement in SEED:
            # psycopg reads % as a placeholder: the modulo operator is written %%.
            conn.execute(
                statement.replace(" % ", " %% "),
                {"cases": cases, "campaign": campaign_id, "per_case": PER_CASE},
            )
        conn.execute("SELECT setval('contact_id_seq', (SELECT max(id) FROM contact))")
        conn.execute("""SELECT setval('case_id_seq', (SELECT max(id) FROM "case"))""")
    return campaign_id


def run(options: Options) -> Outcome:
    """Seed a scratch database; time the bare GROUP BY and then our report, best of three."""
    wanted = options.size or ATTEMPTS
    with scratch_database("reports") as url:
        campaign_id = seed(url, wanted)
        dsn = driver_url(url)
        with psycopg.connect(dsn) as conn:
            counted = conn.execute("SELECT count(*) FROM attempt").fetchone()
            attempts = 0 if counted is None else int(counted[0])

            def baseline() -> None:
                conn.execute(BASELINE).fetchall()

            baseline_s = best_of(REPEATS, baseline)
        engine = make_engine(url)
        services = Services(
            settings=Settings(database_url=url), sessions=make_sessions(engine), clock=lambda: NOW
        )
        report: dict[str, Any] = {}
        try:

            def ours() -> None:
                with services.sessions() as session:
                    campaign = session.get_one(Campaign, campaign_id)
                    report.update(
                        campaign_figures(
                            session,
                            ReportScope(campaign),
                            flow=services.flow(campaign),
                            now=NOW,
                        )
                    )

            ours_s = best_of(REPEATS, ours)
            _, peak = traced_peak(ours)
            digest = None
            if options.profile:
                _, digest = profiled(ours)
                print(digest)
        finally:
            engine.dispose()
    if report["reached"] == 0 or sum(r["attempts"] for r in report["reach_by_hour"]) != attempts:
        raise AssertionError("the report did not count every attempt")
    rows = [
        ("attempts / cases", f"{attempts:,} / {report['cases']:,}"),
        ("baseline (bare GROUP BY)", f"{baseline_s:.3f} s"),
        ("ours (campaign_figures)", f"{ours_s:.3f} s"),
        ("follow-up / satisfaction", f"{report['follow_up_rate']} / {report['satisfaction_rate']}"),
    ]
    figures: dict[str, Any] = {
        "attempts": attempts,
        "cases": report["cases"],
        "baseline_seconds": baseline_s,
        "ours_seconds": ours_s,
        "absolute_limit_seconds": ABSOLUTE_LIMIT_S,
    }
    if digest is not None:
        figures["profile"] = digest
    return Outcome(
        ratio=baseline_s / ours_s,
        memory=Memory(peak, "tracemalloc peak of one report"),
        rows=rows,
        figures=figures,
        short_because=(
            f"the report took {ours_s:.2f} s, over the {ABSOLUTE_LIMIT_S:.0f} s limit"
            if ours_s > ABSOLUTE_LIMIT_S
            else None
        ),
    )
