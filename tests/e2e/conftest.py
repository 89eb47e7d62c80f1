"""End-to-end scenarios each start from an empty store: a PostgreSQL test database is shared by a worker's tests,
and a `carebot run` process would otherwise see the inbox (update ids) and tickets of the scenario before."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _empty_database(request: pytest.FixtureRequest) -> None:
    if "database_url" in request.fixturenames:
        request.getfixturevalue("engine")  # the `engine` fixture empties a shared PostgreSQL database
