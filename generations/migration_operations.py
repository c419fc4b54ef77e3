"""Migration operations shared by the app's migrations."""

from django.db import migrations


class RunSQLOn(migrations.RunSQL):
    """SQL run on one database vendor only ("postgresql", "sqlite"); nothing on the others.

    For indexes only one database can have: PostgreSQL's pg_trgm, SQLite's FTS5.
    """

    def __init__(self, vendor: str, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.vendor = vendor

    def deconstruct(self):
        name, args, kwargs = super().deconstruct()
        return name, [self.vendor, *args], kwargs

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == self.vendor:
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == self.vendor:
            super().database_backwards(app_label, schema_editor, from_state, to_state)
