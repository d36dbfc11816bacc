"""The packaged Alembic migrations build the schema the models describe, on SQLite and PostgreSQL.

These tests start from an empty database (the `settings` fixture), never from create_all.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.migrate import (
    MigrationError,
    connect,
    current_revision,
    downgrade,
    head_revision,
    is_up_to_date,
    upgrade,
)
from ivr.models import Base, Escalation, EscalationStatus
from tests import factories

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

NOW = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)
MODEL_TABLES = set(Base.metadata.tables)


@pytest.fixture
def url(settings: Settings) -> str:
    return settings.database_url


@pytest.fixture
def inspect_engine(url: str) -> Iterator[Engine]:
    """An engine to look at the database with; it never creates anything."""
    engine = make_engine(url)
    yield engine
    engine.dispose()


def schema_diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


def table_names(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_upgrade_builds_the_schema_the_models_describe(url: str, inspect_engine: Engine) -> None:
    """After upgrading an empty database, autogenerate finds nothing left to migrate."""
    upgrade(url)

    assert MODEL_TABLES | {"alembic_version"} == table_names(inspect_engine)
    assert [] == schema_diff(inspect_engine)


def test_upgrading_twice_changes_nothing(url: str, inspect_engine: Engine) -> None:
    """A second upgrade at head is a no-op, not an error."""
    upgrade(url)
    upgrade(url)

    assert head_revision() == current_revision(url)
    assert [] == schema_diff(inspect_engine)


def test_current_revision_is_none_before_and_head_after_upgrade(url: str) -> None:
    """An empty database has no revision; an upgraded one is at the newest shipped revision."""
    assert current_revision(url) is None

    upgrade(url)

    assert "0012" == head_revision()
    assert head_revision() == current_revision(url)


def test_downgrade_to_base_drops_every_table(url: str, inspect_engine: Engine) -> None:
    """Downgrading to base leaves only Alembic's own, empty, version table."""
    upgrade(url)

    downgrade(url, "base")

    assert {"alembic_version"} == table_names(inspect_engine)
    assert current_revision(url) is None


def test_is_up_to_date_only_at_head(url: str) -> None:
    """is_up_to_date is False on an empty or downgraded database and True at head."""
    assert not is_up_to_date(url)
    upgrade(url)
    assert is_up_to_date(url)
    downgrade(url, "base")
    assert not is_up_to_date(url)


def test_migrated_schema_allows_one_open_escalation_per_case_and_reason(
    url: str, inspect_engine: Engine
) -> None:
    """The partial unique index is there: a second open escalation fails, resolved ones don't."""
    upgrade(url)
    sessions = make_sessions(inspect_engine)

    def escalation(case_id: int, status: EscalationStatus) -> Escalation:
        return Escalation(
            case_id=case_id,
            reason="wants_agent",
            status=status,
            due_at=NOW,
            created_at=NOW,
            updated_at=NOW,
        )

    with sessions.begin() as session:
        case_id = factories.case(session, factories.campaign(session, NOW), NOW).id
        session.add(escalation(case_id, EscalationStatus.RESOLVED))
        session.add(escalation(case_id, EscalationStatus.RESOLVED))
        session.add(escalation(case_id, EscalationStatus.OPEN))

    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(escalation(case_id, EscalationStatus.CLAIMED))


def test_a_later_migration_can_rebuild_a_table_that_rows_reference(
    url: str, inspect_engine: Engine
) -> None:
    """A batch alter of a referenced table works on a migration connection (SQLite rebuilds it)."""
    upgrade(url)
    with make_sessions(inspect_engine).begin() as session:
        factories.case(session, factories.campaign(session, NOW), NOW)

    with connect(url) as conn:
        ops = Operations(MigrationContext.configure(conn, opts={"render_as_batch": True}))
        with ops.batch_alter_table("campaign") as batch:
            batch.alter_column("template", type_=sa.String(80), existing_nullable=False)

    columns = {c["name"]: c for c in sa.inspect(inspect_engine).get_columns("campaign")}
    assert 80 == columns["template"]["type"].length
    with inspect_engine.connect() as conn:
        assert 1 == conn.execute(sa.text('SELECT count(*) FROM "case"')).scalar_one()


def test_a_migration_that_breaks_foreign_keys_is_rolled_back(
    url: str, inspect_engine: Engine
) -> None:
    """On SQLite, where foreign keys are off while migrating, they are checked before COMMIT."""
    if inspect_engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL checks foreign keys at each statement, even while migrating")
    upgrade(url)

    with pytest.raises(MigrationError, match="case"), connect(url) as conn:
        # no campaign or contact 99: SQLite accepts the row now, the check before COMMIT won't
        conn.execute(
            sa.text(
                'INSERT INTO "case" (campaign_id, contact_id, external_ref, anchor_date, details,'
                " status, attempts_made, created_at)"
                " VALUES (99, 99, 'r', '2030-01-01', '{}', 'pending', 0, '2030-01-01')"
            )
        )

    with inspect_engine.connect() as conn:
        assert 0 == conn.execute(sa.text('SELECT count(*) FROM "case"')).scalar_one()


def test_upgrade_from_the_baseline_keeps_the_rows(url: str, inspect_engine: Engine) -> None:
    """A database made at 0001 with data in it reaches head with the data intact."""
    upgrade(url, "0001")
    with inspect_engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO campaign (name, template, flow, options, status, created_at) "
            "VALUES ('kept', 'post-discharge', 'post-discharge', '{}', 'active', "
            "'2030-01-01 00:00:00')"
        )
    upgrade(url)
    with inspect_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT name FROM campaign").scalars().all() == ["kept"]
    assert "call_event" in table_names(inspect_engine)


def test_upgrade_to_0012_keeps_each_cases_first_reaching_attempt(
    url: str, inspect_engine: Engine
) -> None:
    """Cases called before 0012 get reached_on_attempt from their attempts: the first that
    reached a person, None for a case never reached."""
    upgrade(url, "0011")
    with inspect_engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO campaign (id, name, template, flow, options, status, created_at) "
            "VALUES (1, 'kept', 'post-discharge', 'post-discharge', '{}', 'active', "
            "'2030-01-01 00:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO contact (id, name, phone, language, timezone) VALUES "
            "(1, 'Test Contact', '+12025550101', 'en-US', 'UTC')"
        )
        for case_id, reached in ((1, (False, True, True)), (2, (False, False)), (3, ())):
            conn.exec_driver_sql(
                'INSERT INTO "case" (id, campaign_id, contact_id, external_ref, anchor_date, '
                "details, status, attempts_made, created_at) VALUES "
                f"({case_id}, 1, 1, 'R-{case_id}', '2030-01-01', '{{}}', 'done', "
                f"{len(reached)}, '2030-01-01 00:00:00')"
            )
            for number, hit in enumerate(reached, start=1):
                conn.exec_driver_sql(
                    "INSERT INTO attempt (case_id, number, status, last_sequence, language, "
                    "flow_step, reached, error_permanent, created_at) VALUES "
                    f"({case_id}, {number}, 'completed', -1, 'en-US', 0, "
                    f"{'true' if hit else 'false'}, false, '2030-01-01 00:00:00')"
                )
    upgrade(url)
    with inspect_engine.connect() as conn:
        rows = conn.exec_driver_sql('SELECT id, reached_on_attempt FROM "case" ORDER BY id').all()
    assert [tuple(row) for row in rows] == [(1, 2), (2, None), (3, None)]
