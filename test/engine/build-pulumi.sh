#!/usr/bin/env bash
# Builds the Pulumi CLI the engine tests run, from Pulumi's published Go modules, at the version of
# @pulumi/pulumi in package-lock.json, into the per-version cache:
#   ${AIRLOCK_TOOLS_CACHE:-$HOME/.cache/airlock-tools}/pulumi-v<version>/pulumi
# Prints that path. Does nothing but print it when the binary is already there.
#
# `go install github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v…` is refused (pkg/v3's go.mod has
# replace directives), so the CLI is built inside the small tools module next to this script,
# whose go.mod/go.sum pin pkg/v3 (and with it sdk/v3) to the same version. Test-only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

version="$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$root/node_modules/@pulumi/pulumi/package.json" | head -1)"
if [ -z "$version" ]; then
    echo "build-pulumi: cannot read @pulumi/pulumi's version from node_modules (run npm ci first)" >&2
    exit 1
fi
pinned="$(sed -n 's#^require github.com/pulumi/pulumi/pkg/v3 v\(.*\)$#\1#p' "$here/tools/go.mod")"
if [ "$pinned" != "$version" ]; then
    echo "build-pulumi: test/engine/tools/go.mod pins pkg/v3 v$pinned but package-lock.json has @pulumi/pulumi $version." >&2
    echo "build-pulumi: keep them in step: (cd test/engine/tools && go get github.com/pulumi/pulumi/pkg/v3@v$version && go mod tidy)" >&2
    exit 1
fi

cache="${AIRLOCK_TOOLS_CACHE:-$HOME/.cache/airlock-tools}/pulumi-v$version"
if [ -x "$cache/pulumi" ]; then
    echo "$cache/pulumi"
    exit 0
fi
if ! command -v go >/dev/null 2>&1; then
    echo "build-pulumi: Go is needed to build the Pulumi CLI v$version for the engine tests and is not on PATH." >&2
    echo "build-pulumi: install Go 1.26 (https://go.dev/doc/install, or Debian's golang package) and rerun." >&2
    exit 1
fi
mkdir -p "$cache"
tmp="$(mktemp "$cache/pulumi.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
echo "build-pulumi: building the Pulumi CLI v$version from Go modules (a few minutes, once per version)…" >&2
(cd "$here/tools" && GOFLAGS=-mod=readonly go build -trimpath \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version" \
    -o "$tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
chmod 0755 "$tmp"
mv "$tmp" "$cache/pulumi"
trap - EXIT
echo "$cache/pulumi"
