#!/usr/bin/env bash
# Builds the Debian 12 (bookworm) guest that test/vm.test.ts boots under QEMU, from nothing:
# debootstrap into a directory, configure it, turn the directory into an ext4 image with
# `mkfs.ext4 -d` (no loop mounts, no bootloader) and extract the kernel and initrd for
# `qemu -kernel/-initrd`.
#
# Output (cached): ${AIRLOCK_VM_CACHE:-$HOME/.cache/airlock-vm}/debian12-<hash of this script>/
#   root.qcow2     the root filesystem (ext4, label airlock-root, whole disk, no partition table)
#   vmlinuz        the guest kernel (linux-image-cloud-amd64)
#   initrd.img     its initramfs (MODULES=most plus virtio/nvme/ext4 forced)
#   manifest.json  kernel version, package versions, build time
# The last line on stdout is `AIRLOCK_VM_IMAGE_DIR=<that directory>`; progress and timings go to stderr.
#
# The image is rebuilt only when its directory is missing: editing this script changes the hash,
# hence the directory. It is built in a temporary directory next to it and renamed into place,
# so a half-built image is never used. Concurrent runs serialise on a lock file.
#
# Needs root (debootstrap, chroot) and network to a Debian mirror. Installs its own host
# prerequisites with apt-get when they are missing.
#
# Environment:
#   AIRLOCK_VM_CACHE           cache root (default $HOME/.cache/airlock-vm)
#   AIRLOCK_VM_MIRROR          Debian mirror (default http://deb.debian.org/debian)
#   AIRLOCK_VM_SECURITY_MIRROR (default http://deb.debian.org/debian-security)
#   AIRLOCK_VM_IMAGE_SIZE      root filesystem size for truncate (default 3G)
set -euo pipefail

SUITE=bookworm
ROOT_LABEL=airlock-root
MIRROR=${AIRLOCK_VM_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${AIRLOCK_VM_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
IMAGE_SIZE=${AIRLOCK_VM_IMAGE_SIZE:-3G}
CACHE_ROOT=${AIRLOCK_VM_CACHE:-${HOME:-/root}/.cache/airlock-vm}

# What debootstrap installs. --include resolves Depends but not virtual packages, hence the explicit
# python3-cffi-backend (the AWS CLI's python3-cryptography needs it through a virtual package).
# The kernel is installed afterwards, once bookworm-updates and -security are enabled, so that
# the image carries exactly one (current) kernel.
BASE_PACKAGES=(
    systemd-sysv udev dbus kmod
    cloud-init locales
    cryptsetup awscli python3-cffi-backend
    initramfs-tools zstd busybox
    e2fsprogs util-linux fdisk iproute2 systemd-resolved isc-dhcp-client netbase
    ca-certificates curl gnupg
    auditd openssh-server sudo unattended-upgrades
    procps less
)
KERNEL_PACKAGE=linux-image-cloud-amd64
# Modules the guest must have at boot to find its root (virtio-blk), the data disk (NVMe) and the
# seed: forced into the initramfs unless the kernel has them built in.
REQUIRED_MODULES=(virtio_pci virtio_blk virtio_net nvme ext4)

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
SCRIPT_START=$(now)
step_start=$SCRIPT_START
step() {
    if [[ -n ${STEP_NAME:-} ]]; then
        log "timing: ${STEP_NAME} took $(elapsed "$step_start")s"
    fi
    STEP_NAME=$1
    step_start=$(now)
    log "--- $1"
}

script_path=$(readlink -f "${BASH_SOURCE[0]}")
script_hash=$(sha256sum "$script_path" | cut -c1-16)
IMAGE_NAME="debian12-${script_hash}"
OUT_DIR="${CACHE_ROOT}/${IMAGE_NAME}"

image_ready() {
    [[ -f "$1/manifest.json" && -f "$1/root.qcow2" && -f "$1/vmlinuz" && -f "$1/initrd.img" ]]
}

finish() {
    log "image: $OUT_DIR"
    printf 'AIRLOCK_VM_IMAGE_DIR=%s\n' "$OUT_DIR"
}

# --- host prerequisites -------------------------------------------------------------------------
# command → Debian package
declare -A HOST_TOOLS=(
    [debootstrap]=debootstrap
    [qemu-system-x86_64]=qemu-system-x86
    [qemu-img]=qemu-utils
    [cloud-localds]=cloud-image-utils
    [mkfs.ext4]=e2fsprogs
    [cryptsetup]=cryptsetup-bin
    [flock]=util-linux
    [sha256sum]=coreutils
)

ensure_host_tools() {
    local missing=() tool
    for tool in "${!HOST_TOOLS[@]}"; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("${HOST_TOOLS[$tool]}")
    done
    # mkfs.ext4 -d needs e2fsprogs >= 1.43 (bookworm has 1.47).
    [[ ${#missing[@]} -eq 0 ]] && return 0
    [[ $(id -u) -eq 0 ]] || die "missing host packages (${missing[*]}) and not root: apt-get install ${missing[*]}"
    command -v apt-get >/dev/null 2>&1 || die "missing host packages (${missing[*]}) and no apt-get"
    log "installing host packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        apt-get update -q >&2
    fi
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
        apt-get update -q >&2
        apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    fi
}

ensure_host_tools
log "timing: host prerequisites took $(elapsed "$SCRIPT_START")s"
# Nothing to do when the cached image exists: no root needed for that.
if image_ready "$OUT_DIR"; then
    log "cached (built $(stat -c %y "$OUT_DIR/manifest.json" | cut -d. -f1)), $(elapsed "$SCRIPT_START")s"
    finish
    exit 0
fi

[[ $(id -u) -eq 0 ]] || die "building the image needs root (debootstrap, chroot)"
mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.lock"
log "waiting for the build lock $CACHE_ROOT/.lock"
flock 9
if image_ready "$OUT_DIR"; then
    log "built meanwhile by another run"
    finish
    exit 0
fi

# --- cleanup ------------------------------------------------------------------------------------
# Unmounts whatever is mounted under $1 (deepest first) and kills processes whose root is inside it.
release_dir() {
    local dir=$1 mnt pid proc_root
    [[ -d $dir ]] || return 0
    dir=$(readlink -f "$dir")
    for proc_root in /proc/[0-9]*/root; do
        pid=${proc_root#/proc/}
        pid=${pid%/root}
        if [[ $(readlink "$proc_root" 2>/dev/null || true) == "$dir"/* ]]; then
            log "killing process $pid left in the chroot"
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    while read -r mnt; do
        umount -l "$mnt" 2>/dev/null || true
    done < <(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
}

# Leftovers of builds that were killed (we hold the lock, so none is running).
for stale in "$CACHE_ROOT"/.build-*; do
    [[ -e $stale ]] || continue
    log "removing stale build directory $stale"
    release_dir "$stale"
    rm -rf "$stale"
done

BUILD_DIR=$(mktemp -d "$CACHE_ROOT/.build-XXXXXX")
ROOTFS="$BUILD_DIR/rootfs"
cleanup() {
    local status=$?
    release_dir "$BUILD_DIR"
    rm -rf "$BUILD_DIR"
    if [[ $status -ne 0 ]]; then
        log "FAILED after $(elapsed "$SCRIPT_START")s (status $status)"
    fi
}
trap cleanup EXIT

in_chroot() {
    LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$ROOTFS" "$@"
}
# The host's /dev is NOT bound into the chroot: a maintainer script there would create nodes on
# the host (libdevmapper, for one, creates /dev/mapper/control when it is missing). debootstrap
# made the basic nodes in $ROOTFS/dev; a private devpts instance is enough for apt.
mount_chroot() {
    mount -t proc proc "$ROOTFS/proc"
    mount -t sysfs -o ro sysfs "$ROOTFS/sys"
    mkdir -p "$ROOTFS/dev/pts"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$ROOTFS/dev/pts"
}
umount_chroot() {
    local m
    for m in dev/pts sys proc; do
        umount "$ROOTFS/$m" 2>/dev/null || umount -l "$ROOTFS/$m"
    done
}

log "building $IMAGE_NAME in $BUILD_DIR (mirror $MIRROR)"

# --- debootstrap --------------------------------------------------------------------------------
step "debootstrap $SUITE"
include=$(IFS=,; echo "${BASE_PACKAGES[*]}")
debootstrap --variant=minbase --components=main --include="$include" "$SUITE" "$ROOTFS" "$MIRROR" >&2 \
    || { cat "$ROOTFS/debootstrap/debootstrap.log" >&2 2>/dev/null || true; die "debootstrap failed"; }

# --- packages: updates, security, kernel --------------------------------------------------------
step "apt: updates, security, kernel"
cat >"$ROOTFS/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
# Name resolution for apt in the chroot (systemd-resolved's stub is not running there).
rm -f "$ROOTFS/etc/resolv.conf"
cp -L /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
# No service may start inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
chmod 0755 "$ROOTFS/usr/sbin/policy-rc.d"
cat >"$ROOTFS/etc/fstab" <<EOF
LABEL=$ROOT_LABEL / ext4 rw,errors=remount-ro 0 1
EOF
# initramfs-tools' fsck hook probes the root device for its type, which does not exist in the
# chroot ("Couldn't identify type of root file system"): name it, so e2fsck goes into the initrd.
echo "FSTYPE=ext4" >"$ROOTFS/etc/initramfs-tools/conf.d/airlock-vm"
# The initramfs must be able to mount a virtio-blk root (and see NVMe) whatever initramfs-tools guesses.
printf '%s\n' "${REQUIRED_MODULES[@]}" >>"$ROOTFS/etc/initramfs-tools/modules"
sed -i 's/^MODULES=.*/MODULES=most/' "$ROOTFS/etc/initramfs-tools/initramfs.conf"
mount_chroot
in_chroot apt-get update -q >&2
in_chroot apt-get -y -q -o Dpkg::Options::=--force-confold dist-upgrade >&2
in_chroot apt-get -y -q -o Dpkg::Options::=--force-confold install --no-install-recommends "$KERNEL_PACKAGE" >&2
in_chroot apt-get clean

# --- kernel and initramfs -----------------------------------------------------------------------
step "kernel and initramfs"
mapfile -t kernels < <(find "$ROOTFS/boot" -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V)
[[ ${#kernels[@]} -ge 1 ]] || die "no kernel in $ROOTFS/boot"
KVER=${kernels[-1]}
log "kernel $KVER"
in_chroot update-initramfs -u -k "$KVER" >&2
[[ -f "$ROOTFS/boot/initrd.img-$KVER" ]] || die "no initrd for $KVER"
initrd_list=$(in_chroot lsinitramfs "/boot/initrd.img-$KVER")
for module in "${REQUIRED_MODULES[@]}"; do
    if grep -Eq "/${module}\.ko" "$ROOTFS/lib/modules/$KVER/modules.builtin"; then
        log "module $module: built into the kernel"
    elif grep -Eq "/${module}\.ko(\.[a-z]+)?$" <<<"$initrd_list"; then
        log "module $module: in the initramfs"
    else
        die "module $module is neither built in nor in the initramfs"
    fi
done
umount_chroot

# --- guest configuration ------------------------------------------------------------------------
step "configure the guest"
rm -f "$ROOTFS/usr/sbin/policy-rc.d"
echo "airlock-vm" >"$ROOTFS/etc/hostname"
cat >"$ROOTFS/etc/hosts" <<'EOF'
127.0.0.1 localhost
127.0.1.1 airlock-vm
::1 localhost ip6-localhost ip6-loopback
EOF
# DHCP on the (only) NIC with systemd-networkd; DNS through systemd-resolved.
cat >"$ROOTFS/etc/systemd/network/20-airlock-dhcp.network" <<'EOF'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
EOF
ln -sf ../run/systemd/resolve/stub-resolv.conf "$ROOTFS/etc/resolv.conf"
in_chroot systemctl enable systemd-networkd.service systemd-resolved.service >&2
# Test VM only: no apt timers racing the first boot for the dpkg lock.
in_chroot systemctl mask apt-daily.timer apt-daily-upgrade.timer >&2
# cloud-init: NoCloud only (the seed disk), and networking is ours (networkd above), not cloud-init's.
cat >"$ROOTFS/etc/cloud/cloud.cfg.d/99_airlock_vm.cfg" <<'EOF'
# Written by test/vm/build-image.sh: the QEMU test guest reads its user data from a NoCloud seed.
datasource_list: [ NoCloud, None ]
network: {config: disabled}
EOF
# A system locale that exists: without one cloud-init's locale module picks en_US.UTF-8, which
# Debian's locale-gen does not generate on demand, and fails with a WARNING.
echo "LANG=C.UTF-8" >"$ROOTFS/etc/default/locale"
# Fresh identity on every first boot: machine-id (systemd) and SSH host keys (cloud-init).
: >"$ROOTFS/etc/machine-id"
rm -f "$ROOTFS/var/lib/dbus/machine-id" "$ROOTFS"/etc/ssh/ssh_host_*
rm -rf "$ROOTFS/var/lib/cloud" "$ROOTFS"/var/log/*.log "$ROOTFS/var/log/apt"/* "$ROOTFS/tmp"/*
passwd_state=$(in_chroot passwd -S root | awk '{ print $2 }')
[[ $passwd_state == L ]] || in_chroot passwd -l root >&2

# Record what went in.
# shellcheck disable=SC2016 # dpkg-query's own ${Field} syntax
versions=$(in_chroot dpkg-query -W -f '    "${Package}": "${Version}",\n' cloud-init awscli cryptsetup-bin systemd "linux-image-$KVER" e2fsprogs)
cp "$ROOTFS/boot/vmlinuz-$KVER" "$BUILD_DIR/vmlinuz"
cp "$ROOTFS/boot/initrd.img-$KVER" "$BUILD_DIR/initrd.img"

# --- root filesystem image ----------------------------------------------------------------------
step "mkfs.ext4 -d ($IMAGE_SIZE)"
release_dir "$ROOTFS"
if awk -v d="$(readlink -f "$ROOTFS")/" 'index($2, d) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    die "something is still mounted under $ROOTFS"
fi
truncate -s "$IMAGE_SIZE" "$BUILD_DIR/root.raw"
mkfs.ext4 -q -F -L "$ROOT_LABEL" -d "$ROOTFS" "$BUILD_DIR/root.raw" >&2
e2fsck -fn "$BUILD_DIR/root.raw" >&2 || die "e2fsck found problems in the new image"
qemu-img convert -O qcow2 "$BUILD_DIR/root.raw" "$BUILD_DIR/root.qcow2"
rm -f "$BUILD_DIR/root.raw"
rm -rf "$ROOTFS"
# Overlays reference it as a backing file: it must never change.
chmod 0444 "$BUILD_DIR/root.qcow2"

cat >"$BUILD_DIR/manifest.json" <<EOF
{
  "name": "$IMAGE_NAME",
  "suite": "$SUITE",
  "rootLabel": "$ROOT_LABEL",
  "kernelVersion": "$KVER",
  "imageSize": "$IMAGE_SIZE",
  "builtAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "scriptSha256": "$script_hash",
  "packages": {
${versions%,}
  }
}
EOF

# --- publish ------------------------------------------------------------------------------------
step "publish"
chmod 0755 "$BUILD_DIR"
rm -rf "$OUT_DIR"
mv -T "$BUILD_DIR" "$OUT_DIR"
log "timing: publish took $(elapsed "$step_start")s"
log "built in $(elapsed "$SCRIPT_START")s: $(du -sh --apparent-size "$OUT_DIR" | cut -f1) apparent, $(du -sh "$OUT_DIR" | cut -f1) on disk"
# Older images of this cache (other script hashes) are left alone: another checkout may use them.
finish
