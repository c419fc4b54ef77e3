"""docker-compose.yml and `make stack` (playground/stack.py) describe the same stack.

No Docker engine runs here, so the compose file is kept honest by comparing it with the
service table the native stack starts, and every variable is documented.
"""

from __future__ import annotations

import re

import pytest
import yaml

from playground import stack
from playground.env import InvalidSetting
from tests.apprunner import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
DOCUMENTED = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE, flags=re.MULTILINE))


def test_compose_declares_the_stack_services_and_its_backing_services():
    assert set(SERVICES) == {s.name for s in stack.SERVICES} | set(stack.BACKING_SERVICES)


@pytest.mark.parametrize("service", stack.SERVICES, ids=lambda s: s.name)
def test_each_service_runs_the_same_command(service):
    assert tuple(SERVICES[service.name]["command"]) == service.command


@pytest.mark.parametrize("service", stack.SERVICES, ids=lambda s: s.name)
def test_each_service_is_given_the_same_variables(service):
    assert set(SERVICES[service.name]["environment"]) == set(service.environment)


@pytest.mark.parametrize("service", stack.SERVICES, ids=lambda s: s.name)
def test_restart_policy_and_profile_agree(service):
    declared = SERVICES[service.name]
    expected_restart = "unless-stopped" if service.restart else "no"
    assert declared.get("restart", "no") == expected_restart
    assert declared.get("profiles", [None]) == [service.profile]


def test_workers_can_be_scaled():
    worker = SERVICES["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert stack.service("worker").scale_variable == "STACK_WORKERS"


def test_the_web_server_waits_for_migrations_and_checks_its_health():
    web = SERVICES["web"]
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert web["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert web["healthcheck"]["test"] == ["CMD", "python", "-m", "playground.healthcheck"]
    assert stack.service("migrate").one_shot


def test_data_and_media_live_in_named_volumes():
    assert {"postgres-data", "media"} <= set(COMPOSE["volumes"])
    assert "postgres-data:/var/lib/postgresql/data" in SERVICES["postgres"]["volumes"]
    assert "media:/data/media" in SERVICES["web"]["volumes"]
    assert SERVICES["web"]["environment"]["MEDIA_ROOT"] == "/data/media"


def test_the_image_collects_static_files_as_the_native_stack_does():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert " ".join(stack.COLLECTSTATIC[1:4]) in dockerfile
    assert 'CMD ["' + '", "'.join(stack.service("web").command) + '"]' in dockerfile


def test_every_variable_compose_interpolates_is_in_env_example():
    referenced = set(
        re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "docker-compose.yml").read_text())
    )
    assert referenced
    assert referenced <= DOCUMENTED


def test_every_variable_the_code_reads_is_in_env_example_and_the_readme():
    pattern = re.compile(r"env_(?:str|bool|int|float|list)\(\s*[\"']([A-Z][A-Z0-9_]+)[\"']")
    read = set()
    for path in [*ROOT.glob("playground/*.py"), *ROOT.glob("generations/**/*.py")]:
        read |= set(pattern.findall(path.read_text()))
    read |= {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # read by boto3 itself
    # Scale variables are named in the stack's table and read through it.
    read |= {s.scale_variable for s in stack.SERVICES if s.scale_variable}
    assert {
        "DATABASE_URL",
        "STACK_WORKERS",
        "SIMULATOR_LATENCY",
        "SIMULATOR_HOST",
        "PLAYGROUND_ADMIN_USER",
    } <= read
    assert read <= DOCUMENTED
    readme = (ROOT / "README.md").read_text()
    undocumented = {name for name in DOCUMENTED if f"`{name}`" not in readme}
    assert not undocumented, f"missing from README.md: {sorted(undocumented)}"


def test_the_native_stack_starts_the_simulator_only_without_a_key():
    without_key = [c.name for c in stack.children_for({"STACK_WORKERS": "3"})]
    assert without_key == ["simulator", "web", "worker-1", "worker-2", "worker-3"]
    with_key = [c.name for c in stack.children_for({"WAVESPEED_API_KEY": "k"})]
    assert with_key == ["web", "worker-1", "worker-2"]


def test_the_stack_gives_unset_and_empty_variables_their_local_defaults():
    environ = {"DATABASE_URL": "", "PORT": " 9000 ", "REDIS_URL": "redis://cache:6379/1"}
    stack.prepare_environment(environ)
    assert environ["DATABASE_URL"] == stack.DEFAULT_DATABASE_URL
    assert environ["REDIS_URL"] == "redis://cache:6379/1"
    assert environ["PORT"] == "9000"
    assert environ["SIMULATOR_URL"] == "http://127.0.0.1:8001"


def test_the_stack_refuses_a_malformed_port_naming_it():
    with pytest.raises(InvalidSetting, match="SIMULATOR_PORT"):
        stack.prepare_environment({"SIMULATOR_PORT": "eighty"})
