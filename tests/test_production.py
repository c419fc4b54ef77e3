"""Production mode is a set of environment variables: PostgreSQL, Redis, S3, HTTPS switches."""

from __future__ import annotations

import json

import pytest

from tests.apprunner import manage

# Every test here runs manage.py in a process of its own, with the production variables.
pytestmark = pytest.mark.process

SECRET = "production-test-" + "s" * 60
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": SECRET,
    "ALLOWED_HOSTS": "playground.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://playground.example.com",
    "BEHIND_TLS_PROXY": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "DATABASE_URL": "postgres://playground:pw@db.internal:5432/playground",
    "REDIS_URL": "redis://redis.internal:6379/0",
}


def settings_of(env_changes: dict[str, str], tmp_path, *names: str) -> dict:
    code = (
        "import json\nfrom django.conf import settings\n"
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {names!r}}}, default=str))"
    )
    result = manage(["shell", "-v0", "-c", code], env_changes, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_check_deploy_passes_with_production_variables(tmp_path):
    result = manage(["check", "--deploy", "--fail-level", "WARNING"], PRODUCTION, tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_https_is_switched_off(tmp_path):
    result = manage(
        ["check", "--deploy", "--fail-level", "WARNING"],
        {**PRODUCTION, "SECURE_SSL_REDIRECT": "false", "SECURE_HSTS_SECONDS": "0"},
        tmp_path,
    )
    assert result.returncode != 0
    assert "security.W008" in result.stderr and "security.W004" in result.stderr


def test_production_without_allowed_hosts_does_not_start(tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k != "ALLOWED_HOSTS"}
    result = manage(["check"], env, tmp_path)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set" in result.stderr


def test_postgresql_connections_persist_and_are_checked(tmp_path):
    database = settings_of(PRODUCTION, tmp_path, "DATABASES")["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["CONN_MAX_AGE"] == 60
    assert database["CONN_HEALTH_CHECKS"] is True


def test_sqlite_connections_persist_too(tmp_path):
    found = settings_of(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}, tmp_path, "DATABASES"
    )
    database = found["DATABASES"]["default"]
    assert database["ENGINE"] == "playground.sqlite"
    assert database["CONN_MAX_AGE"] == 60


def test_redis_url_moves_the_broker_and_the_cache_to_redis(tmp_path):
    found = settings_of(PRODUCTION, tmp_path, "CACHES", "Q_CLUSTER")
    assert found["CACHES"]["default"] == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://redis.internal:6379/0",
    }
    assert found["Q_CLUSTER"]["redis"] == "redis://redis.internal:6379/0"
    assert "orm" not in found["Q_CLUSTER"]


def test_static_files_get_hashed_names_in_production(tmp_path):
    storages = settings_of(PRODUCTION, tmp_path, "STORAGES")["STORAGES"]
    assert storages["staticfiles"]["BACKEND"] == (
        "whitenoise.storage.CompressedManifestStaticFilesStorage"
    )


def test_a_bucket_switches_media_to_s3_and_keeps_credentials_out_of_settings(tmp_path):
    env = {
        **PRODUCTION,
        "AWS_STORAGE_BUCKET_NAME": "team-media",
        "AWS_S3_ENDPOINT_URL": "https://s3.example.com",
        "AWS_S3_REGION_NAME": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "very-secret-value",
    }
    code = (
        "from django.conf import settings\nfrom django.core.files.storage import storages\n"
        "print(type(storages['default']).__name__)\nprint(repr({k: getattr(settings, k) "
        "for k in dir(settings) if k.isupper()}))"
    )
    result = manage(["shell", "-v0", "-c", code], env, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    backend, everything = result.stdout.split("\n", 1)
    assert backend == "S3Storage"
    assert "'bucket_name': 'team-media'" in everything
    assert "'file_overwrite': False" in everything
    assert "very-secret-value" not in everything
