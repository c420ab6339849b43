#!/bin/bash
# Airlock hardening baseline, run once by cloud-init before airlock-boot. Installed as
# /usr/local/sbin/airlock-harden. Reads AIRLOCK_OS and AIRLOCK_SSH from /etc/airlock/airlock.env.
#   - sshd: no root login, no passwords, keys only (or sshd off when AIRLOCK_SSH=disabled: SSM only)
#   - auditd on
#   - sysctls: no IP forwarding, no ICMP redirects, SYN cookies, reverse-path filtering
#   - automatic security updates (unattended-upgrades on apt, dnf-automatic on Amazon Linux)
set -euo pipefail
umask 022

ENV_FILE="${AIRLOCK_ENV_FILE:-/etc/airlock/airlock.env}"
# shellcheck source=/dev/null
. "$ENV_FILE"
ROOT="${AIRLOCK_ROOT:-}"
OS="${AIRLOCK_OS:?}"
SSH="${AIRLOCK_SSH:-key-only}"

log() {
    printf 'airlock-harden: %s\n' "$*" >&2
}

mkdir -p "$ROOT/etc/ssh/sshd_config.d" "$ROOT/etc/sysctl.d"
cat >"$ROOT/etc/ssh/sshd_config.d/50-airlock.conf" <<'CONF'
# Airlock hardening baseline
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PubkeyAuthentication yes
X11Forwarding no
MaxAuthTries 3
CONF

cat >"$ROOT/etc/sysctl.d/60-airlock.conf" <<'CONF'
# Airlock hardening baseline
net.ipv4.ip_forward = 0
net.ipv6.conf.all.forwarding = 0
net.ipv4.conf.all.accept_redirects = 0
net.ipv4.conf.default.accept_redirects = 0
net.ipv6.conf.all.accept_redirects = 0
net.ipv6.conf.default.accept_redirects = 0
net.ipv4.conf.all.secure_redirects = 0
net.ipv4.conf.all.send_redirects = 0
net.ipv4.conf.default.send_redirects = 0
net.ipv4.conf.all.accept_source_route = 0
net.ipv4.tcp_syncookies = 1
net.ipv4.conf.all.rp_filter = 1
net.ipv4.conf.all.log_martians = 1
CONF

case "$OS" in
    al2023)
        if [ -f "$ROOT/etc/dnf/automatic.conf" ]; then
            sed -i 's/^upgrade_type *=.*/upgrade_type = security/; s/^apply_updates *=.*/apply_updates = yes/' "$ROOT/etc/dnf/automatic.conf"
        fi
        UNITS="auditd dnf-automatic.timer"
        SSHD=sshd
        ;;
    debian12 | ubuntu2204 | ubuntu2404)
        cat >"$ROOT/etc/apt/apt.conf.d/20auto-upgrades" <<'CONF'
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
CONF
        UNITS="auditd unattended-upgrades"
        SSHD=ssh
        ;;
    *)
        log "unknown OS $OS"
        exit 1
        ;;
esac

if [ -n "$ROOT" ]; then
    log "files written under $ROOT (services and sysctls not applied)"
    exit 0
fi
sysctl --system >/dev/null || log "some sysctls could not be applied"
for unit in $UNITS; do
    systemctl enable --now "$unit" >/dev/null 2>&1 || log "could not enable $unit"
done
if [ "$SSH" = "disabled" ]; then
    systemctl disable --now "$SSHD" >/dev/null 2>&1 || true
    log "sshd disabled (SSM only)"
else
    systemctl reload "$SSHD" >/dev/null 2>&1 || systemctl restart "$SSHD" >/dev/null 2>&1 || log "could not reload $SSHD"
fi
log "baseline applied"
