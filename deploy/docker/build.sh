#!/usr/bin/env bash
# Builds the Broadside image from a binary built beforehand, with no registry: the runtime
# stage of deploy/docker/Dockerfile on the local Debian base of deploy/docker/base.sh.
#
#   deploy/docker/build.sh [BINARY] [TAG]     # defaults: dist/broadside (./x dist), broadside:local
#
# Prints the image's size.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
binary="${1:-dist/broadside}"
tag="${2:-broadside:local}"
base="${BROADSIDE_BASE_IMAGE:-broadside-base:bookworm}"
[ -x "$binary" ] || { echo "error: no binary at $binary (./x dist builds one)" >&2; exit 2; }
"$here/base.sh" "$base" >/dev/null
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
# Debug information stays out of the image (./x dist keeps it in dist/broadside.debug).
objcopy --strip-debug "$binary" "$context/broadside"
{
  echo "ARG BASE=$base"
  # The runtime stage, as the Dockerfile has it, with the binary from the build context.
  sed -n '/^FROM \${BASE}/,$p' "$here/Dockerfile" \
    | sed 's|^COPY --from=source /out/broadside |COPY broadside |'
} > "$context/Dockerfile"
docker build -q -t "$tag" "$context" >/dev/null
# The runtime stage's image is left untagged by the build: remove it (and only it).
docker image prune -f --filter label=org.broadside.stage=runtime >/dev/null
docker image ls "$tag" --format '{{.Repository}}:{{.Tag}} {{.Size}}'
