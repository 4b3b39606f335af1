#!/usr/bin/env bash
# Schema checks of the workload identity examples (docs/services-without-secrets.md):
# deploy/k8s/*.yaml against the Kubernetes OpenAPI schemas (kubernetes-validate, strict:
# unknown fields fail) and deploy/github/*.yml against SchemaStore's GitHub workflow schema
# (vendored in check-jsonschema). Both are pinned and installed into a temporary venv; no
# network access beyond the package index, no cluster. A missing tool is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install -q check-jsonschema==0.39.0 kubernetes-validate==1.37.0
"$venv/bin/kubernetes-validate" --strict --no-warn -k 1.33.0 deploy/k8s/*.yaml
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows deploy/github/*.yml
echo "federation manifests: ok"
