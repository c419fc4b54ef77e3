"""Settings come from the environment; a malformed value stops startup naming the variable."""

import re
import subprocess
import sys

import pytest

from playground.env import InvalidSetting, env_bool, env_float, env_int, env_list, env_str
from tests.apprunner import ROOT, manage


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("off", False),
    ],
)
def test_booleans_accept_the_usual_spellings(raw, expected):
    assert env_bool("DEBUG", not expected, environ={"DEBUG": raw}) is expected


def test_unset_variables_take_their_default():
    assert env_bool("X", True, environ={}) is True
    assert env_int("X", 7, environ={}) == 7
    assert env_float("X", 1.5, environ={}) == 1.5
    assert env_str("X", "d", environ={}) == "d"
    assert env_list("X", ["a"], environ={}) == ["a"]


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_variable_counts_as_unset_for_every_reader(empty):
    environ = {"X": empty}
    assert env_bool("X", True, environ=environ) is True
    assert env_int("X", 7, environ=environ) == 7
    assert env_float("X", 1.5, environ=environ) == 1.5
    assert env_str("X", "d", environ=environ) == "d"
    assert env_list("X", ["a"], environ=environ) == ["a"]


@pytest.mark.parametrize(
    ("reader", "raw"),
    [
        (lambda env: env_bool("DEBUG", True, environ=env), "maybe"),
        (lambda env: env_int("DEBUG", 1, environ=env), "12abc"),
        (lambda env: env_int("DEBUG", 1, minimum=1, environ=env), "0"),
        (lambda env: env_float("DEBUG", 1.0, environ=env), "fast"),
        (lambda env: env_float("DEBUG", 1.0, environ=env), "nan"),
        (lambda env: env_float("DEBUG", 1.0, environ=env), "inf"),
        (lambda env: env_float("DEBUG", 1.0, maximum=5, environ=env), "6"),
    ],
)
def test_malformed_values_are_refused_naming_the_variable(reader, raw):
    with pytest.raises(InvalidSetting, match="DEBUG"):
        reader({"DEBUG": raw})


def test_a_refused_value_is_a_value_error():
    # The simulator, which has no Django, catches it as one.
    assert issubclass(InvalidSetting, ValueError)


def test_lists_are_comma_separated():
    assert env_list("HOSTS", [], environ={"HOSTS": "a.example, b.example,,"}) == [
        "a.example",
        "b.example",
    ]


@pytest.mark.process
def test_the_readers_run_where_django_cannot_be_imported():
    # None in sys.modules makes every `import django` raise ImportError.
    code = (
        "import sys; sys.modules['django'] = None; "
        "from playground.env import env_int; "
        "assert env_int('PORT', 1, environ={'PORT': '8000'}) == 8000"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr


def test_the_environment_is_read_only_through_playground_env():
    direct_read = re.compile(r"\bgetenv\(|\benviron\.get\(")
    readers = {
        str(path.relative_to(ROOT))
        for folder in ("playground", "generations", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if direct_read.search(path.read_text())
    }
    assert readers == set()


@pytest.mark.process
def test_production_without_a_secret_key_does_not_start(tmp_path):
    result = manage(["check"], {"DEBUG": "false"}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.process
def test_development_generates_a_secret_key_once(tmp_path):
    assert manage(["check"], {}, tmp_path).returncode == 0
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 50
    assert manage(["check"], {}, tmp_path).returncode == 0
    assert (tmp_path / "secret_key").read_text() == key


@pytest.mark.process
def test_a_malformed_variable_stops_startup_with_its_name(tmp_path):
    result = manage(["check"], {"Q_WORKERS": "lots"}, tmp_path)
    assert result.returncode != 0
    assert "Q_WORKERS must be an integer" in result.stderr


@pytest.mark.process
def test_a_malformed_output_host_stops_startup_with_its_name(tmp_path):
    result = manage(["check"], {"WAVESPEED_OUTPUT_HOSTS": "https://cdn.example.test/"}, tmp_path)
    assert result.returncode != 0
    assert "WAVESPEED_OUTPUT_HOSTS: 'https://cdn.example.test/' is not a host" in result.stderr


@pytest.mark.process
@pytest.mark.parametrize(
    ("environment", "threads"),
    [
        # Empty counts as unset, whatever this machine exports.
        ({"DOWNLOAD_THREADS": ""}, "2"),
        ({"REDIS_URL": "redis://127.0.0.1:6379/9", "DOWNLOAD_THREADS": ""}, "0"),
        ({"REDIS_URL": "redis://127.0.0.1:6379/9", "DOWNLOAD_THREADS": "3"}, "3"),
    ],
)
def test_download_threads_are_two_by_default_none_with_redis(tmp_path, environment, threads):
    result = manage(
        ["shell", "-c", "from django.conf import settings; print(settings.DOWNLOAD_THREADS)"],
        environment,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == threads
