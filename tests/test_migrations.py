"""Migrations that a rolling update survives.

An update (README, Deployment) migrates, then restarts the Daphne processes
one after another: until its restart, a process still runs the earlier code,
which inserts rows without the columns a migration added. A column added NOT
NULL therefore needs a default in the database (`db_default`), not only in
Django.
"""

from django.db import migrations
from django.db.migrations.loader import MigrationLoader

# The last migration of each app written before this rule; deployed databases already have them.
LAST_BEFORE_THE_RULE = {"accounts": 2, "agents": 5, "conversations": 13}


def columns_old_code_cannot_fill() -> list[str]:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    found = []
    for (app, name), migration in loader.disk_migrations.items():
        if app not in LAST_BEFORE_THE_RULE or int(name[:4]) <= LAST_BEFORE_THE_RULE[app]:
            continue
        for operation in migration.operations:
            if not isinstance(operation, migrations.AddField):
                continue
            field = operation.field
            if field.many_to_many or field.null or field.has_db_default():
                continue
            found.append(f"{app}.{name}: {operation.model_name}.{operation.name}")
    return found


def test_a_column_added_not_null_has_a_database_default():
    assert columns_old_code_cannot_fill() == []
