"""Static checks of deploy/compose.yml, run by `deploy/build.sh check` (CI has no Docker).

Checks what would break `docker compose up` or the multi-replica setup: the file parses, both
replicas run the image built from this repository with the same KEK, issuer and database,
every service has a health check, and start-up order waits on health, not mere start.
"""

import os
import sys

import yaml


def fail(msg: str) -> None:
    sys.exit(f"compose check: {msg}")


def main(path: str) -> None:
    base = os.path.dirname(os.path.abspath(path))
    with open(path) as f:
        doc = yaml.safe_load(f)  # resolves the YAML anchors and merge keys (<<)
    services = doc.get("services") or fail("no services")
    for name in ("postgres", "tessera-a", "tessera-b", "proxy"):
        name in services or fail(f"service {name} missing")

    replicas = [services["tessera-a"], services["tessera-b"]]
    for svc in replicas:
        build = svc.get("build") or fail("a replica has no build section")
        ctx = os.path.normpath(os.path.join(base, build["context"]))
        os.path.isfile(os.path.join(ctx, build.get("dockerfile", "Dockerfile"))) or fail(
            f"no Dockerfile in build context {ctx}"
        )
        env = svc.get("environment") or {}
        for key in ("TESSERA_KEK", "TESSERA_ISSUER", "TESSERA_DATABASE_URL"):
            key in env or fail(f"replica without {key}")
        env["TESSERA_DATABASE_URL"].startswith("postgres://") or fail("replicas not on PostgreSQL")
    a, b = (r["environment"] for r in replicas)
    for key in ("TESSERA_KEK", "TESSERA_ISSUER", "TESSERA_DATABASE_URL"):
        a[key] == b[key] or fail(f"replicas differ in {key}")

    for name, svc in services.items():
        hc = svc.get("healthcheck") or fail(f"service {name} has no healthcheck")
        hc.get("test") or fail(f"service {name} healthcheck has no test")
        for dep, cond in (svc.get("depends_on") or {}).items():
            dep in services or fail(f"{name} depends on unknown service {dep}")
            cond.get("condition") == "service_healthy" or fail(
                f"{name} must wait for {dep} to be healthy"
            )
    for name in ("tessera-a", "tessera-b"):
        "postgres" in services[name].get("depends_on", {}) or fail(f"{name} does not wait for postgres")

    for vol in services["proxy"].get("volumes", []):
        src = vol.split(":")[0]
        if src.startswith("."):
            os.path.exists(os.path.join(base, src)) or fail(f"proxy mounts missing {src}")
    print(f"compose check: {path} ok ({len(services)} services)", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
