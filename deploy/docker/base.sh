#!/usr/bin/env bash
# Builds the local Debian bookworm base image (`broadside-base:bookworm` unless named) from
# Debian's package mirror with debootstrap, for machines that reach package mirrors but no
# container registry. Where a registry is reachable, the Dockerfile's default base
# (`debian:bookworm-slim`) is the same thing and this is not needed.
#
#   deploy/docker/base.sh [IMAGE]
set -euo pipefail
image="${1:-broadside-base:bookworm}"
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image exists"
  exit 0
fi
command -v debootstrap >/dev/null 2>&1 || {
  echo "installing debootstrap" >&2
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq debootstrap >/dev/null
}
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
# minbase: essential packages and apt only; ca-certificates for HTTPS targets and masters.
debootstrap --variant=minbase --include=ca-certificates bookworm "$root" >/dev/null
# What an image needs no copy of: package lists, caches, documentation.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* \
  "$root"/usr/share/man/* "$root"/usr/share/locale/*
tar -C "$root" -c . | docker import - "$image" >/dev/null
docker image ls "$image"
