"""docker-compose.yml cannot be started here (no engine), so check that it parses and that every
service runs a command the CLI has and sets only settings the code reads."""

from pathlib import Path

import yaml

from radstack.cli import build_parser
from shared.config import Settings
from shared.queues import Queue

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def _services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_every_expected_service_is_there() -> None:
    services = _services()
    expected = {"postgres", "redis", "migrate", "gateway", "worker-classify", "worker-retrieve",
                "worker-generate", "beat", "flower"}
    assert expected <= set(services)


def test_radstack_commands_parse_with_the_real_cli() -> None:
    parser = build_parser()
    served_queues = set()
    for name, service in _services().items():
        command = service.get("command")
        if not command or command[0] != "radstack":
            continue
        args = parser.parse_args(command[1:])
        if args.command == "worker":
            served_queues.update(args.queues.split(","))
    assert served_queues == {q.value for q in Queue}


def test_environment_names_are_settings_the_code_reads() -> None:
    fields = {f"RADSTACK_{name.upper()}" for name in Settings.model_fields}
    for name, service in _services().items():
        for variable in (service.get("environment") or {}):
            if variable.startswith("RADSTACK_"):
                assert variable in fields, f"{name} sets {variable}, which no setting reads"


def test_gpu_pool_reserves_a_gpu_and_runs_one_process() -> None:
    classify = _services()["worker-classify"]
    devices = classify["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    command = classify["command"]
    assert command[command.index("--concurrency") + 1] == "1"
    assert classify["environment"]["RADSTACK_DEVICE"] == "cuda"


def test_production_settings_refuse_the_dev_secret() -> None:
    import pytest

    with pytest.raises(ValueError):
        Settings(environment="production")
    assert Settings(environment="production", secret_key="a-real-long-random-secret").environment == "production"
