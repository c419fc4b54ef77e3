"""A trigram index of the prompts on SQLite, as pg_trgm gives PostgreSQL (0013).

FTS5's trigram tokenizer indexes every three characters of each prompt, and answers
`LIKE '%word%'` from the index (`gallery.prompt_matches`) instead of reading every prompt.
The table holds no copy of the prompts (`content=` the generations' table); triggers keep it
in step with every insert, update and delete.

Django remakes an SQLite table to alter it (a new table, the rows copied, the old one
dropped), and triggers go with the dropped table: a later migration that alters the
generations' table must make these triggers again and rebuild the index.
`tests/test_gallery_search.py` fails if they are missing.
"""

from django.db import migrations

from generations.migration_operations import RunSQLOn

CREATE = [
    "CREATE VIRTUAL TABLE generations_prompt_trigrams USING fts5("
    "prompt, content='generations_generation', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER generations_prompt_trigrams_insert AFTER INSERT ON generations_generation "
    "BEGIN INSERT INTO generations_prompt_trigrams(rowid, prompt) VALUES (new.id, new.prompt); END",
    "CREATE TRIGGER generations_prompt_trigrams_delete AFTER DELETE ON generations_generation "
    "BEGIN INSERT INTO generations_prompt_trigrams(generations_prompt_trigrams, rowid, prompt) "
    "VALUES ('delete', old.id, old.prompt); END",
    "CREATE TRIGGER generations_prompt_trigrams_update AFTER UPDATE OF prompt "
    "ON generations_generation "
    "BEGIN INSERT INTO generations_prompt_trigrams(generations_prompt_trigrams, rowid, prompt) "
    "VALUES ('delete', old.id, old.prompt); "
    "INSERT INTO generations_prompt_trigrams(rowid, prompt) VALUES (new.id, new.prompt); END",
    # The prompts already there.
    "INSERT INTO generations_prompt_trigrams(generations_prompt_trigrams) VALUES ('rebuild')",
]
DROP = [
    "DROP TRIGGER IF EXISTS generations_prompt_trigrams_update",
    "DROP TRIGGER IF EXISTS generations_prompt_trigrams_delete",
    "DROP TRIGGER IF EXISTS generations_prompt_trigrams_insert",
    "DROP TABLE IF EXISTS generations_prompt_trigrams",
]


class Migration(migrations.Migration):
    dependencies = [
        ("generations", "0013_held_generations_and_prompt_search"),
    ]

    operations = [RunSQLOn("sqlite", sql=CREATE, reverse_sql=DROP)]
