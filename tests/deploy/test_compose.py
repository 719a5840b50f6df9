"""docker-compose.yml and deploy/Caddyfile against the Compose Specification and against the code.

Nothing here starts a container (there is no Docker engine where the suite runs). Each check is
a drift the real stack would only show at `docker compose up`: a module or port that moved, a
healthcheck on a route that does not exist, a variable no settings class reads, a dependency
that does not wait for health.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import re
from collections.abc import Callable, Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

REPO = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = REPO / ".env.example"
SERVICES = ("admin", "compute", "files", "miner", "web")
# Whose settings each entrypoint role reads (the one-shots read a service's variables).
ROLE_SETTINGS = {
    "admin": "admin",
    "compute": "compute",
    "files": "files",
    "miner": "miner",
    "web": "web",
    "worker": "compute",
    "create-bucket": "files",
    "jwt-key": "admin",
}
# Variables that reach a container for a program other than nfhub's settings → the module
# that reads them (its source must name the variable, so this list cannot go stale).
NON_SETTINGS_ENV = {"FORWARDED_ALLOW_IPS": "uvicorn.config"}
GATEWAY_HOSTS = {f"{service}.localhost": service for service in SERVICES}
HEALTH_CONDITIONS = {"service_healthy", "service_completed_successfully"}
# Variables .env.example documents for a tool rather than a service → the file that reads them.
TOOL_ENV = {
    "NFHUB_STATE_DIR": "scripts/nfhub_devstack",
    "TEST_DATABASE_URL": "shared/src/nfhub_shared/testing",
    "NEXTFLOW_SHA256": "deploy/Dockerfile",
}
PUBLISHING = {"gateway", "s3"}  # the only services with ports outside the compose network


def compose_schema() -> dict[str, Any]:
    resource = files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    schema: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return schema


def env_example_names() -> list[tuple[str, str]]:
    """(NAME, section title) of every variable .env.example shows, commented out or not."""
    names: list[tuple[str, str]] = []
    section = ""
    for line in ENV_EXAMPLE.read_text().splitlines():
        header = re.match(r"#\s*---\s*(.+?)\s*-{3,}\s*$", line)
        if header:
            section = header.group(1)
            continue
        match = re.match(r"#?([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.append((match.group(1), section))
    return names


class TestSchema:
    def test_compose_file_follows_the_compose_specification(self, compose: Any) -> None:
        validator = Draft202012Validator(compose_schema())
        errors = [
            f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
            for error in sorted(validator.iter_errors(compose.document), key=str)
        ]
        assert not errors, "docker-compose.yml breaks the Compose Specification:\n" + "\n".join(
            errors
        )


class TestRoles:
    def test_every_nfhub_container_runs_a_role_the_entrypoint_knows(
        self, compose: Any, run_entrypoint: Callable[..., Any]
    ) -> None:
        for name, service in compose.nfhub_services().items():
            command = service.get("command")
            assert isinstance(command, list) and command, f"{name}: command must be a list"
            assert "entrypoint" not in service, f"{name}: the image's entrypoint picks the role"
            run = run_entrypoint(*command)
            assert run.returncode == 0, f"{name}: entrypoint rejects {command}: {run.stderr}"
            assert run.calls, f"{name}: {command} runs nothing"

    def test_every_module_the_entrypoint_runs_exists(
        self, compose: Any, run_entrypoint: Callable[..., Any]
    ) -> None:
        roles = {compose.role(name) for name in compose.nfhub_services()}
        for role in sorted(roles | {"worker"}):
            for call in run_entrypoint(role).calls:
                if call[0] == "python" and call[1] == "-m":
                    assert importlib.util.find_spec(call[2]) is not None, f"{role}: {call}"
                elif call[0] == "uvicorn":
                    module, _, attribute = call[1].partition(":")
                    app_factory = getattr(importlib.import_module(module), attribute, None)
                    assert callable(app_factory), f"{role}: {call[1]} is not a callable"
                    assert "--factory" in call, f"{role}: create_app is a factory"
                else:
                    assert call[:2] == ["python", "/opt/nfhub/tasks.py"], f"{role}: {call}"

    def test_every_service_and_the_worker_run_once(self, compose: Any) -> None:
        for role in (*SERVICES, "worker"):
            compose.by_role(role)


class TestGateway:
    def test_gateway_serves_the_five_hostnames_with_local_tls(
        self, caddy_blocks: dict[tuple[str, ...], list[list[str]]]
    ) -> None:
        sites = {address for block in caddy_blocks for address in block}
        assert sites == set(GATEWAY_HOSTS)
        for addresses, directives in caddy_blocks.items():
            if addresses:
                assert ["tls", "internal"] in directives, f"{addresses}: no `tls internal`"

    def test_gateway_routes_each_hostname_to_its_service_and_port(
        self,
        compose: Any,
        caddy_blocks: dict[tuple[str, ...], list[list[str]]],
        served: dict[str, Any],
    ) -> None:
        for addresses, directives in caddy_blocks.items():
            for address in addresses:
                service = GATEWAY_HOSTS[address]
                proxies = [words[1:] for words in directives if words[0] == "reverse_proxy"]
                assert len(proxies) == 1 and len(proxies[0]) == 1, f"{address}: {proxies}"
                host, _, port = proxies[0][0].partition(":")
                assert host == compose.by_role(service), f"{address} → {host}"
                assert int(port) == served[service].port, f"{address} → port {port}"

    def test_gateway_is_started_after_the_services_it_routes_to(
        self, compose: Any, caddy_blocks: dict[tuple[str, ...], list[list[str]]]
    ) -> None:
        gateway = compose.services["gateway"]
        assert any("deploy/Caddyfile:/etc/caddy/Caddyfile" in v for v in gateway["volumes"])
        upstreams = {
            words[1].partition(":")[0]
            for directives in caddy_blocks.values()
            for words in directives
            if words[0] == "reverse_proxy"
        }
        assert upstreams <= set(gateway["depends_on"])


class TestHealth:
    def test_http_services_check_readiness_on_a_real_route_and_port(
        self,
        compose: Any,
        served: dict[str, Any],
        app_routes: dict[str, set[tuple[str, str]]],
        run_entrypoint: Callable[..., Any],
    ) -> None:
        for service in SERVICES:
            name = compose.by_role(service)
            test = compose.services[name].get("healthcheck", {}).get("test")
            assert isinstance(test, list) and test[:3] == ["CMD", "nfhub-entrypoint", "probe"], (
                f"{name}: healthcheck must be [CMD, nfhub-entrypoint, probe, URL], not {test}"
            )
            url = urlsplit(test[3])
            assert url.hostname == "127.0.0.1", f"{name}: probe the container itself"
            assert url.port == served[service].port, f"{name}: probe port {url.port}"
            assert url.path == "/readyz", f"{name}: readiness, not {url.path}"
            assert ("GET", url.path) in app_routes[service], f"{service} has no GET {url.path}"
            assert run_entrypoint(*test[2:]).calls == [
                ["python", "/opt/nfhub/tasks.py", "probe", test[3]]
            ]

    def test_every_service_someone_waits_for_can_become_healthy(self, compose: Any) -> None:
        for name, service in compose.services.items():
            for target, condition in (service.get("depends_on") or {}).items():
                if condition["condition"] == "service_healthy":
                    assert "healthcheck" in compose.services[target], f"{name} → {target}"


class TestDependencies:
    def test_depends_on_names_real_services_and_waits_for_health(self, compose: Any) -> None:
        for name, service in compose.services.items():
            depends_on = service.get("depends_on", {})
            assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
            for target, spec in depends_on.items():
                assert target in compose.services, f"{name} depends on unknown {target}"
                assert spec.get("condition") in HEALTH_CONDITIONS, f"{name} → {target}: {spec}"
                if spec["condition"] == "service_completed_successfully":
                    assert compose.services[target].get("restart") == "no", (
                        f"{target} is waited for as a one-shot; it must not restart"
                    )

    def test_services_wait_for_what_they_need_at_start(self, compose: Any) -> None:
        needs = {
            "admin": {"postgres", "jwt-key"},
            "compute": {"postgres"},
            "files": {"postgres", "create-bucket"},
            "miner": {"postgres"},
            "web": {"postgres"},
            "worker": {"compute"},  # compute's migrations create the worker's tables
        }
        for role, targets in needs.items():
            name = compose.by_role(role)
            assert targets <= set(compose.services[name].get("depends_on", {})), name
        assert "s3" in compose.services[compose.by_role("create-bucket")]["depends_on"]


class TestEnvironment:
    def test_compose_sets_only_variables_the_receiving_service_reads(
        self, compose: Any, settings_names: dict[str, set[str]]
    ) -> None:
        for name in compose.nfhub_services():
            reader = ROLE_SETTINGS[compose.role(name)]
            for variable in compose.environment(name):
                if variable in NON_SETTINGS_ENV:
                    source = inspect.getsource(importlib.import_module(NON_SETTINGS_ENV[variable]))
                    assert variable in source, f"{NON_SETTINGS_ENV[variable]} reads no {variable}"
                    continue
                assert variable.upper() in settings_names[reader], (
                    f"{name}: {variable} is not a setting of {reader} "
                    f"(fields are read as PREFIX_NAME or NAME)"
                )

    def test_compose_environment_is_valid_for_each_service(
        self,
        compose: Any,
        compose_variables: dict[str, str],
        isolated_environ: Callable[[Mapping[str, str]], None],
        settings_class: Callable[[str], Any],
    ) -> None:
        """Each service's settings load from exactly what compose gives it: types, URLs, JSON
        lists, and ENVIRONMENT=production's refusal of development secrets all pass."""
        for name in compose.nfhub_services():
            reader = ROLE_SETTINGS[compose.role(name)]
            isolated_environ(compose.resolved_environment(name, compose_variables))
            try:
                settings_class(reader)(_env_file=None)
            except ValidationError as exc:
                pytest.fail(f"{name}: {reader} settings refuse compose's environment:\n{exc}")

    def test_production_services_get_every_secret_they_require(
        self, compose: Any, compose_variables: dict[str, str]
    ) -> None:
        for role in (*SERVICES, "worker"):
            name = compose.by_role(role)
            env = compose.resolved_environment(name, compose_variables)
            assert env.get("ENVIRONMENT") == "production", name
            for variable in ("SERVICE_SECRET", "DATABASE_URL"):
                assert variable in env, f"{name}: no {variable}"

    def test_storage_settings_agree_between_admin_files_and_the_bucket(
        self, compose: Any, compose_variables: dict[str, str]
    ) -> None:
        """admin describes project storage; files uses it; create-bucket makes it."""

        def env(role: str) -> dict[str, str]:
            return compose.resolved_environment(compose.by_role(role), compose_variables)

        admin, files_env, bucket = env("admin"), env("files"), env("create-bucket")
        assert admin["ADMIN_STORAGE_BACKEND"] == files_env["FILES_STORAGE_BACKEND"] == "s3"
        assert admin["ADMIN_STORAGE_BUCKET"] == files_env["FILES_S3_BUCKET"]
        assert admin["ADMIN_STORAGE_ENDPOINT_URL"] == files_env["FILES_S3_ENDPOINT_URL"]
        s3_keys = {k: v for k, v in files_env.items() if k.startswith("FILES_S3_")}
        assert s3_keys == {k: v for k, v in bucket.items() if k.startswith("FILES_S3_")}
        store = compose.resolved_environment("s3", compose_variables)
        assert store["AWS_ACCESS_KEY_ID"] == files_env["FILES_S3_ACCESS_KEY_ID"]
        assert store["AWS_SECRET_ACCESS_KEY"] == files_env["FILES_S3_SECRET_ACCESS_KEY"]

    def test_signed_url_endpoint_is_the_same_name_inside_and_outside(
        self, compose: Any, compose_variables: dict[str, str]
    ) -> None:
        """S3 signatures cover the Host: files must reach the store by the name the browser
        uses. That name is the store's network alias, and its port is published."""
        endpoint = urlsplit(
            compose.resolved_environment("files", compose_variables)["FILES_S3_ENDPOINT_URL"]
        )
        store = compose.services["s3"]
        assert endpoint.hostname in store["networks"]["default"]["aliases"]
        assert f"127.0.0.1:{endpoint.port}:{endpoint.port}" in store["ports"]
        assert f"-s3.port={endpoint.port}" in store["command"]

    def test_compute_and_worker_share_their_settings_and_work_folder(
        self, compose: Any, compose_variables: dict[str, str]
    ) -> None:
        compute = compose.resolved_environment(compose.by_role("compute"), compose_variables)
        worker = compose.resolved_environment(compose.by_role("worker"), compose_variables)
        assert {k: v for k, v in compute.items() if k.startswith("COMPUTE_")} == {
            k: v for k, v in worker.items() if k.startswith("COMPUTE_")
        }
        work_root = compute["COMPUTE_WORK_ROOT"]
        for role in ("compute", "worker"):
            volumes = compose.services[compose.by_role(role)]["volumes"]
            assert f"compute-work:{work_root}" in volumes, f"{role}: {volumes}"
        assert compose.services[compose.by_role("worker")].get("hostname"), (
            "the local backend's run handles name their host: the worker's must not change"
        )

    def test_admin_reads_the_key_the_one_shot_writes(
        self, compose: Any, compose_variables: dict[str, str]
    ) -> None:
        admin_name, key_name = compose.by_role("admin"), compose.by_role("jwt-key")
        admin = compose.resolved_environment(admin_name, compose_variables)
        keygen = compose.resolved_environment(key_name, compose_variables)
        path = admin["ADMIN_JWT_PRIVATE_KEY_FILE"]
        assert keygen["ADMIN_JWT_PRIVATE_KEY_FILE"] == path
        folder = path.rsplit("/", 1)[0]
        assert f"admin-keys:{folder}:ro" in compose.services[admin_name]["volumes"]
        assert f"admin-keys:{folder}" in compose.services[key_name]["volumes"]

    def test_env_example_documents_only_variables_something_reads(
        self, compose: Any, settings_names: dict[str, set[str]]
    ) -> None:
        every_setting = set().union(*settings_names.values())
        interpolated = compose.variables()
        for variable, section in env_example_names():
            if section.startswith("docker compose"):
                # Handed to every container by env_file: it must not be anybody's setting.
                assert variable not in every_setting, f"{variable} would configure a service"
                assert variable in interpolated, f"{variable}: docker-compose.yml never uses it"
            elif variable in TOOL_ENV:
                reader = REPO / TOOL_ENV[variable]
                sources = [reader] if reader.is_file() else sorted(reader.rglob("*.py"))
                assert any(variable in path.read_text() for path in sources), variable
            else:
                assert variable in every_setting, f".env.example: {variable} is nobody's setting"

    def test_every_variable_compose_substitutes_is_documented(self, compose: Any) -> None:
        documented = {variable for variable, _ in env_example_names()}
        missing = compose.variables() - documented
        assert not missing, f"document in .env.example: {sorted(missing)}"

    def test_secrets_are_required_not_defaulted(self, compose: Any) -> None:
        """A forgotten secret stops `docker compose up` with a message, never a default."""
        for match in re.finditer(r"\$\{([A-Z0-9_]+)(:?[-?+]?)", compose.text):
            name, op = match.groups()
            if any(word in name for word in ("SECRET", "PASSWORD", "KEY")):
                assert op == ":?", f"${{{name}}} must be written ${{{name}:?message}}"


class TestImages:
    def test_nfhub_services_build_the_one_dockerfile(self, compose: Any) -> None:
        """The worker builds the Dockerfile's worker stage (Java, Nextflow), everything else
        its runtime stage; one image name per stage, so neither overwrites the other."""
        for name, service in compose.nfhub_services().items():
            target = "worker" if compose.role(name) == "worker" else "runtime"
            build = {key: value for key, value in service["build"].items() if key != "args"}
            assert build == {"context": ".", "dockerfile": "deploy/Dockerfile", "target": target}
            assert compose.stage(name) == target, f"{name}: {service['image']}"
            assert service.get("init") is True, f"{name}: tini reaps orphans and forwards signals"
            assert "user" not in service, f"{name}: the image's own non-root user"

    def test_other_images_are_pinned_to_a_release(self, compose: Any) -> None:
        nfhub = compose.nfhub_services()
        for name, service in compose.services.items():
            if name in nfhub:
                continue
            image = service.get("image", "")
            _, _, tag = image.rpartition(":")
            assert re.match(r"\d+\.\d+", tag), f"{name}: pin {image} to a release"

    def test_only_the_gateway_and_the_store_are_published_on_loopback(self, compose: Any) -> None:
        for name, service in compose.services.items():
            ports = service.get("ports", [])
            if name not in PUBLISHING:
                assert not ports, f"{name} is reached through the gateway only"
            for port in ports:
                assert str(port).startswith("127.0.0.1:"), f"{name}: {port} binds every address"
