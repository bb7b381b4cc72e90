#!/usr/bin/env bash
# Validates every manifest here against the Kubernetes API schemas, strictly (unknown fields
# are errors), with `kubernetes-validate` from PyPI (installed for the user when missing). No
# cluster is needed — and none is used: this is all the Kubernetes part is checked against.
#
#   deploy/kubernetes/validate.sh            # against 1.31 (the oldest supported) and the newest
#   deploy/kubernetes/validate.sh -k 1.33.0  # against one version
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
if [ $# -eq 0 ]; then
  # 1.31: StatefulSet start ordinals (pods master-1…) are generally available; the pod-index
  # label is on by default since 1.28 (beta; generally available in 1.32).
  kubernetes-validate --strict -k 1.31.0 "${manifests[@]}"
  kubernetes-validate --strict "${manifests[@]}"
else
  kubernetes-validate --strict "$@" "${manifests[@]}"
fi
