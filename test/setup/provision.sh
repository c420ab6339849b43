#!/usr/bin/env bash
# Provisions what the test suite runs, or stops at once saying what is missing and how to get it.
# `npm test` and `npm run test:quick` run it first; run it alone with `bash test/setup/provision.sh`.
# Idempotent: when everything is there it only checks and prints one line per tool (well under 2 s).
#
#   .venv/                 moto's server and the AWS CLI, exactly as pinned (with hashes) in
#                          test/setup/requirements.txt, from PyPI; recreated when that file changes
#   Debian packages        shellcheck, cryptsetup, QEMU, debootstrap, cloud-localds, … (apt-get,
#                          as root or through `sudo -n`)
#   PostgreSQL             Debian's postgresql, for the records tests' own server
#                          (test/support/postgres.ts). Its initdb and postgres are not on PATH
#                          (/usr/lib/postgresql/<major>/bin), so they are looked for there, then on
#                          PATH; the package is installed when neither has them
#   cloud-init's schema    extracted from Debian's cloud-init package (not installed) into
#                          $AIRLOCK_TOOLS_CACHE/cloud-init
#   the Pulumi CLI         built from Go modules by test/engine/build-pulumi.sh into
#                          $AIRLOCK_TOOLS_CACHE/pulumi-v<version> (a few minutes, once per version)
#
# The machine must have: node_modules (`npm ci`), Python >= 3.9 with venv and pip (python3, or
# $AIRLOCK_PYTHON), Go (only while the Pulumi CLI is not built), apt-get with root (only while a
# package is missing), and network to PyPI, Debian's mirror and the Go module proxy.
#
# Environment:
#   AIRLOCK_TOOLS_CACHE  tool cache (default $HOME/.cache/airlock-tools; also read by build-pulumi.sh
#                        and test/support/cloudInitSchema.ts)
#   AIRLOCK_PYTHON       the Python that creates .venv (default python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

tools="${AIRLOCK_TOOLS_CACHE:-${HOME:-/root}/.cache/airlock-tools}"
venv="$root/.venv"
requirements="$here/requirements.txt"
stamp="$venv/.airlock-requirements.sha256"
python="${AIRLOCK_PYTHON:-python3}"
schema_rel="usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json"
schema_dir="$tools/cloud-init"

# Debian packages the tests run, by the command they provide:
#   bootPath.test.ts and the boot script it runs: shellcheck, cryptsetup, curl, mkfs.ext4, shred
#   qemu-*, cloud-localds, debootstrap, setpriv, flock: test/vm/build-image.sh and test/support/vm.ts
#   openssl: test/engine/tlsFront.ts
#   chromium: test/audit.browser.test.ts (the audit's HTML report in a real, headless browser)
COMMANDS=(shellcheck cryptsetup qemu-system-x86_64 qemu-img cloud-localds debootstrap mkfs.ext4 openssl curl setpriv flock shred chromium)
declare -A PACKAGE_OF=(
    [shellcheck]=shellcheck
    [cryptsetup]=cryptsetup-bin
    [qemu-system-x86_64]=qemu-system-x86
    [qemu-img]=qemu-utils
    [cloud-localds]=cloud-image-utils
    [debootstrap]=debootstrap
    [mkfs.ext4]=e2fsprogs
    [openssl]=openssl
    [curl]=curl
    [setpriv]=util-linux
    [flock]=util-linux
    [shred]=coreutils
    [chromium]=chromium
)

say() { printf 'provision: %s\n' "$*"; }
problems=()
problem() { problems+=("$1"); }
stop_if_problems() {
    [ ${#problems[@]} -eq 0 ] && return 0
    {
        echo "provision: cannot provision the test tools; missing:"
        printf '  - %s\n' "${problems[@]}"
        echo "provision: then rerun \`npm test\` (or \`bash test/setup/provision.sh\`)."
    } >&2
    exit 1
}
fail() {
    printf 'provision: %s\n' "$@" >&2
    exit 1
}

# --- what is there, what must be done, and can it be done (all checked before doing anything) ---

pulumi_version="$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' node_modules/@pulumi/pulumi/package.json 2>/dev/null | head -1 || true)"
if [ -z "$pulumi_version" ]; then
    problem "node_modules (the project's npm dependencies, Node 24 among them): run \`npm ci\` first; the README's test command is \`npm ci && npm test\`."
fi

apt_missing=()
declare -A apt_version=()
read_versions() { # of the packages named, when installed
    local pkg status version
    command -v dpkg-query >/dev/null 2>&1 || return 0
    while IFS=$'\t' read -r pkg status version; do
        if [ "${status:0:2}" = "ii" ]; then apt_version[$pkg]="$version"; fi
    done < <(dpkg-query -W -f='${Package}\t${db:Status-Abbrev}\t${Version}\n' "$@" 2>/dev/null || true)
}
mapfile -t packages < <(printf '%s\n' "${PACKAGE_OF[@]}" | sort -u)
read_versions "${packages[@]}"
for command in "${COMMANDS[@]}"; do
    pkg="${PACKAGE_OF[$command]}"
    if ! command -v "$command" >/dev/null 2>&1 || [ -z "${apt_version[$pkg]:-}" ]; then
        [[ " ${apt_missing[*]} " == *" $pkg "* ]] || apt_missing+=("$pkg")
    fi
done
# PostgreSQL's server programs (test/support/postgres.ts finds them the same way): Debian keeps
# them off PATH, in /usr/lib/postgresql/<major>/bin (the newest major wins).
postgres_bin_dir() {
    local initdb
    initdb="$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1 || true)"
    if [ -z "$initdb" ]; then initdb="$(command -v initdb || true)"; fi
    if [ -n "$initdb" ] && [ -x "$(dirname "$initdb")/postgres" ]; then dirname "$initdb"; fi
    return 0
}
read_versions postgresql
if [ -z "$(postgres_bin_dir)" ]; then
    apt_missing+=(postgresql)
fi
need_schema=""
[ -f "$schema_dir/$schema_rel" ] || need_schema=1

sudo=()
if [ ${#apt_missing[@]} -gt 0 ] || [ -n "$need_schema" ]; then
    if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
        [ ${#apt_missing[@]} -eq 0 ] || problem "the Debian packages ${apt_missing[*]} (commands: $(for c in "${COMMANDS[@]}"; do [[ " ${apt_missing[*]} " == *" ${PACKAGE_OF[$c]} "* ]] && printf '%s ' "$c"; done)), and there is no apt-get: this setup expects Debian 12; install them by other means."
        [ -z "$need_schema" ] || problem "cloud-init's JSON schema ($schema_dir/$schema_rel), extracted from Debian's cloud-init package, and there is no apt-get/dpkg-deb: extract cloud-init 22.4's package into $schema_dir by other means, or point AIRLOCK_CLOUD_INIT_SCHEMA at schema-cloud-config-v1.json."
    elif [ "$(id -u)" -ne 0 ]; then
        if sudo -n true >/dev/null 2>&1; then
            sudo=(sudo -n)
        elif [ ${#apt_missing[@]} -gt 0 ]; then
            problem "the Debian packages ${apt_missing[*]}, and this is not root (nor passwordless sudo): as root run \`apt-get update && apt-get install -y --no-install-recommends ${apt_missing[*]}\`."
        fi
    fi
fi

need_venv=""
want_hash="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want_hash" ] || [ ! -x "$venv/bin/python" ] || [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/aws" ]; then
    need_venv=1
    if ! command -v "$python" >/dev/null 2>&1; then
        problem "Python 3 (>= 3.9, with venv and pip; \`$python\` is not on PATH) for the project-local .venv with moto and the AWS CLI: \`apt-get install python3 python3-venv\`, or set AIRLOCK_PYTHON to a Python 3.11."
    elif ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null; then
        problem "Python >= 3.9 for the project-local .venv (\`$python\` is $("$python" --version 2>&1)): install Python 3.11 (Debian: \`apt-get install python3 python3-venv\`) or set AIRLOCK_PYTHON to one."
    elif ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
        problem "Python's venv and ensurepip modules (\`$python\` has no working \`-m venv\`): \`apt-get install python3-venv\` (Debian), or set AIRLOCK_PYTHON to a Python 3.11 that has them."
    fi
fi

pulumi_bin="$tools/pulumi-v$pulumi_version/pulumi"
if [ -n "$pulumi_version" ] && [ ! -x "$pulumi_bin" ] && ! command -v go >/dev/null 2>&1; then
    problem "Go (1.26), to build the Pulumi CLI v$pulumi_version from Go modules into $tools/pulumi-v$pulumi_version (not built yet, and \`go\` is not on PATH): install it (https://go.dev/doc/install, or Debian's golang package) and put it on PATH."
fi

stop_if_problems

# --- Debian packages and cloud-init's schema -----------------------------------------------------

mkdir -p "$tools"
apt_log="$tools/apt.log"
apt_updated=""
apt_update() {
    [ -n "$apt_updated" ] && return 0
    "${sudo[@]}" apt-get update -q >>"$apt_log" 2>&1 || { tail -n 20 "$apt_log" >&2; fail "\`apt-get update\` failed (log: $apt_log): is Debian's mirror reachable?"; }
    apt_updated=1
}
if [ ${#apt_missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${apt_missing[*]} (log: $apt_log)"
    export DEBIAN_FRONTEND=noninteractive
    install=("${sudo[@]}" apt-get install -y -q --no-install-recommends "${apt_missing[@]}")
    : >"$apt_log"
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then apt_update; fi
    if ! "${install[@]}" >>"$apt_log" 2>&1; then
        apt_update
        "${install[@]}" >>"$apt_log" 2>&1 || {
            tail -n 20 "$apt_log" >&2
            fail "installing ${apt_missing[*]} failed (log: $apt_log). As root: apt-get update && apt-get install -y --no-install-recommends ${apt_missing[*]}"
        }
    fi
    read_versions "${apt_missing[@]}"
    for command in "${COMMANDS[@]}"; do
        command -v "$command" >/dev/null 2>&1 || fail "${PACKAGE_OF[$command]} is installed but \`$command\` is not on PATH (PATH=$PATH): put /usr/sbin and /sbin on PATH."
    done
    [ -n "$(postgres_bin_dir)" ] || fail "postgresql is installed but there is no initdb and postgres in /usr/lib/postgresql/*/bin (nor on PATH)."
fi

if [ -n "$need_schema" ]; then
    say "extracting cloud-init's schema from Debian's cloud-init package into $schema_dir"
    download="$(mktemp -d)"
    # apt downloads as its _apt user when it can write there (as root it says so, and goes on, when not)
    if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$download"; fi
    trap 'rm -rf "$download"' EXIT
    if ! (cd "$download" && apt-get download -q cloud-init >>"$apt_log" 2>&1); then
        [ ${#sudo[@]} -gt 0 ] || [ "$(id -u)" -eq 0 ] || fail "\`apt-get download cloud-init\` failed (log: $apt_log) and updating apt's lists needs root: as root run \`apt-get update\`, then rerun."
        apt_update
        (cd "$download" && apt-get download -q cloud-init >>"$apt_log" 2>&1) || {
            tail -n 20 "$apt_log" >&2
            fail "\`apt-get download cloud-init\` failed (log: $apt_log): is Debian's mirror reachable?"
        }
    fi
    deb="$(echo "$download"/cloud-init_*.deb)"
    mkdir "$download/x"
    dpkg-deb -x "$deb" "$download/x" || fail "dpkg-deb could not extract $deb"
    [ -f "$download/x/$schema_rel" ] || fail "Debian's cloud-init package ($(basename "$deb")) has no $schema_rel"
    dpkg-deb -f "$deb" Version >"$download/x/VERSION"
    rm -rf "$schema_dir"
    mv "$download/x" "$schema_dir"
    rm -rf "$download"
    trap - EXIT
fi

# --- the project-local virtual environment -------------------------------------------------------

if [ -n "$need_venv" ]; then
    say "creating .venv from test/setup/requirements.txt with $("$python" --version 2>&1) (pinned, hashed; from PyPI)"
    rm -rf "$venv"
    "$python" -m venv "$venv" || fail "\`$python -m venv .venv\` failed: install python3-venv (Debian) or set AIRLOCK_PYTHON to a Python 3.11 with venv."
    if ! "$venv/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
        --require-hashes --only-binary=:all: -r "$requirements"; then
        rm -rf "$venv"
        fail "pip could not install test/setup/requirements.txt into .venv (output above): PyPI (pypi.org, files.pythonhosted.org) must be reachable. The pins were generated for Python 3.11; with another Python set AIRLOCK_PYTHON to a 3.11."
    fi
    echo "$want_hash" >"$stamp"
fi

# --- the Pulumi CLI ------------------------------------------------------------------------------

pulumi_bin="$(AIRLOCK_TOOLS_CACHE="$tools" bash "$root/test/engine/build-pulumi.sh")" || fail "building the Pulumi CLI v$pulumi_version failed (output above): the Go module proxy (proxy.golang.org) must be reachable."

# --- summary: one line per tool ------------------------------------------------------------------

dist_version() {
    local info
    info="$(compgen -G "$venv/lib/python*/site-packages/$1-*.dist-info" | head -1)"
    info="${info##*/"$1"-}"
    echo "${info%.dist-info}"
}
say "moto_server        moto $(dist_version moto)  .venv/bin/moto_server"
say "aws                awscli $(dist_version awscli)  .venv/bin/aws"
say "cloud-init schema  cloud-init $(cat "$schema_dir/VERSION" 2>/dev/null || echo '(unknown version)')  $schema_dir"
for command in "${COMMANDS[@]}"; do
    say "$(printf '%-18s %s %s  %s' "$command" "${PACKAGE_OF[$command]}" "${apt_version[${PACKAGE_OF[$command]}]}" "$(command -v "$command")")"
done
postgres_dir="$(postgres_bin_dir)"
say "$(printf '%-18s %s %s  %s' initdb postgresql "${apt_version[postgresql]:-(not from dpkg)}" "$postgres_dir/initdb ($("$postgres_dir/postgres" --version 2>&1))")"
pulumi_reports="$("$pulumi_bin" version 2>&1)" || fail "$pulumi_bin does not run: $pulumi_reports" "remove it and rerun to rebuild it."
say "pulumi             $pulumi_reports  $pulumi_bin"
if command -v node >/dev/null 2>&1; then
    say "node               $(node --version)  $(command -v node) (npm scripts: node_modules/node, from package.json)"
fi
