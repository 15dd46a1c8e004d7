"""Alembic environment for the node: runs migrations on the connection the caller passes.

``node.db.migrate`` opens the async engine and hands a synchronous connection to alembic through
``config.attributes["connection"]``; there is no ``alembic.ini`` and no URL in this package.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from node.models import METADATA


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=METADATA, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):  # pragma: no cover - misuse
    raise RuntimeError("node migrations run only through node.db.migrate")
_run(connection)
