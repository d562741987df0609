"""The schema comes only from migrations, and the migrations match the models exactly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from shared.migrate import downgrade, upgrade
from shared.models import Base

TABLES = {"api_keys", "studies", "images", "findings", "evidence", "report_versions", "audit_events",
          "users", "heat_maps", "callback_deliveries"}


def _check(url: str) -> None:
    upgrade(url)
    engine = create_engine(url)
    try:
        assert TABLES <= set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
    finally:
        engine.dispose()
    downgrade(url)
    engine = create_engine(url)
    assert not TABLES & set(inspect(engine).get_table_names())
    engine.dispose()


def test_migrations_on_sqlite(tmp_path) -> None:
    _check(f"sqlite:///{tmp_path / 'm.db'}")


def test_migrations_on_postgres(postgres_url) -> None:
    _check(postgres_url)
