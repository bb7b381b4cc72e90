#!/usr/bin/env bash
# Validates every manifest here against the Kubernetes API schemas, strictly (unknown fields
# are errors), with `kubernetes-validate` from PyPI (installed for the user when missing). No
# cluster is needed — and none is used: this is all the Kubernetes part is checked against.
#
#   deploy/kubernetes/validate.sh [-k 1.37.0]
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  python3 -m pip install --quiet --user kubernetes-validate 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages kubernetes-validate
  export PATH="$HOME/.local/bin:$PATH"
fi
# The kustomization is kustomize's configuration, not an API object.
manifests=()
for f in *.yaml; do
  [ "$f" = kustomization.yaml ] || manifests+=("$f")
done
kubernetes-validate --strict "$@" "${manifests[@]}"
