#!/bin/bash
# Airlock first boot and unlock. Installed as /usr/local/sbin/airlock-boot by cloud-init.
#
#   airlock-boot first-boot   read the data volume's id from the instance's tag (IMDS), then
#                             generate the instance's LUKS key and store it once in its key object
#                             (keys/<instance ARN>: SSE-KMS under the vault key, tagged with the
#                             instance's ARN), or read the stored one when an earlier run of the
#                             first boot stored it; then LUKS2-format the data volume if (and only
#                             if) it is blank, open it, create a filesystem if it has none, mount
#                             it, enable the unlock unit, and signal the result to Airlock
#   airlock-boot unlock       at every later boot (airlock-unlock.service): read the stored key
#                             (never writes or generates one), open and mount; never formats
#
# Settings come from /etc/airlock/airlock.env (written by cloud-init, every value shell-quoted).
# The key only ever lives in /run (tmpfs), mode 0400, and is removed after use; it never passes
# through Pulumi.
set -euo pipefail
umask 077

ENV_FILE="${AIRLOCK_ENV_FILE:-/etc/airlock/airlock.env}"
# shellcheck source=/dev/null
. "$ENV_FILE"

: "${AIRLOCK_INSTANCE_NAME:?}" "${AIRLOCK_REGION:?}" "${AIRLOCK_KEY_BUCKET:?}" "${AIRLOCK_KEY_PREFIX:?}" "${AIRLOCK_KMS_KEY_ARN:?}"
: "${AIRLOCK_DATA_VOLUME_TAG:?}" "${AIRLOCK_MOUNT_POINT:?}"
IMDS="${AIRLOCK_IMDS_ENDPOINT:-http://169.254.169.254}"
AWS_ENDPOINT="${AIRLOCK_AWS_ENDPOINT:-}"
KEY_DIR="${AIRLOCK_KEY_DIR:-/run/airlock}"
LOG_FILE="${AIRLOCK_LOG_FILE:-/var/log/airlock-boot.log}"
MAPPER_NAME="airlock-data"
KEY_ATTEMPTS="${AIRLOCK_KEY_ATTEMPTS:-12}"
DEVICE_ATTEMPTS="${AIRLOCK_DEVICE_ATTEMPTS:-60}"
TAG_ATTEMPTS="${AIRLOCK_TAG_ATTEMPTS:-16}"
MODE="${1:-first-boot}"
# The object tag that binds a key object to its instance (policies/keyNaming.ts INSTANCE_ARN_TAG).
INSTANCE_ARN_TAG="airlock:instance-arn"
TAG="airlock-boot"
[ "$MODE" = "unlock" ] && TAG="airlock-unlock"

export AWS_DEFAULT_REGION="$AIRLOCK_REGION"
# The AWS CLI appends "latest/api/token" without a slash (aws-cli 2.9 on Debian 12): keep the slash.
export AWS_EC2_METADATA_SERVICE_ENDPOINT="$IMDS/"
export AWS_EC2_METADATA_DISABLED=false

log() {
    local line
    line="$TAG: $*"
    printf '%s\n' "$line" >&2
    printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$line" >>"$LOG_FILE" 2>/dev/null || true
    # The serial console, so that the line is visible from outside the instance.
    if [ -w /dev/console ] && [ -z "${AIRLOCK_NO_CONSOLE:-}" ]; then
        printf '%s\n' "$line" >/dev/console 2>/dev/null || true
    fi
}

aws_cli() {
    if [ -n "$AWS_ENDPOINT" ]; then
        aws --endpoint-url "$AWS_ENDPOINT" "$@"
    else
        aws "$@"
    fi
}

imds_token() {
    curl -sS -f --max-time 5 -X PUT "$IMDS/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 21600"
}

imds_get() {
    curl -sS -f --max-time 5 -H "X-aws-ec2-metadata-token: $TOKEN" "$IMDS/latest/$1"
}

# A GET that sets IMDS_STATUS (000: no answer) and IMDS_BODY (as sent).
imds_fetch() {
    local out
    out="$(curl -sS --max-time 5 -w '\n%{http_code}' -H "X-aws-ec2-metadata-token: $TOKEN" "$IMDS/latest/$1" 2>/dev/null)" || true
    IMDS_STATUS="${out##*$'\n'}"
    IMDS_BODY="${out%$'\n'*}"
    [[ "$IMDS_STATUS" =~ ^[0-9]{3}$ ]] || IMDS_STATUS=000
}

INSTANCE_ID=""
SIGNALLED=""

# The readiness signal Airlock's promotion waits for: tags on this instance (the launch policy
# allows exactly these two tags on exactly this instance).
signal() {
    local status="$1" reason="${2:-}"
    SIGNALLED=1
    [ "$MODE" = "first-boot" ] || return 0
    if [ -z "$INSTANCE_ID" ]; then
        log "cannot signal $status: instance id unknown"
        return 0
    fi
    # Tag values: at most 256 characters; keep them plain.
    reason="$(printf '%s' "$reason" | tr -c 'A-Za-z0-9 _.:/=+@-' ' ' | cut -c1-250 | sed 's/ *$//')"
    if ! aws_cli ec2 create-tags --resources "$INSTANCE_ID" \
        --tags "Key=airlock:bootstrap,Value=$status" "Key=airlock:bootstrap-reason,Value=$reason" >/dev/null; then
        log "could not signal $status to Airlock (ec2:CreateTags failed)"
    fi
}

cleanup_key() {
    if [ -n "${KEY_FILE:-}" ] && [ -e "$KEY_FILE" ]; then
        shred -u "$KEY_FILE" 2>/dev/null || rm -f "$KEY_FILE"
    fi
    rm -f "$KEY_DIR/put.curl" "$KEY_DIR/put.out" "$KEY_DIR/put.err" "$KEY_DIR/s3.err"
}

fail() {
    log "$*"
    cleanup_key
    signal failure "$*"
    log "done status=failure reason=$*"
    exit 1
}

on_error() {
    local code=$? line=$1
    trap - ERR
    [ -n "$SIGNALLED" ] && exit "$code"
    fail "unexpected error (exit $code) at line $line"
}
trap 'on_error $LINENO' ERR
trap cleanup_key EXIT

# 1. Who am I (IMDSv2 only).
TOKEN="$(imds_token)" || fail "no IMDSv2 token from $IMDS"
INSTANCE_ID="$(imds_get meta-data/instance-id)" || fail "instance id not readable from the metadata service"
log "instance $INSTANCE_ID ($AIRLOCK_INSTANCE_NAME), mode $MODE"

# The mount point, checked before a key is made or fetched or anything is formatted (the
# configuration checks it too; this script does not trust its input): a normalised absolute path,
# not on a pseudo-filesystem, not a directory the volume would hide (config/mountPoint.ts's
# deny-list, the same here), and not already a mount point of anything but this volume's mapping.
# Reasons become tag values: no commas or parentheses in them.
MOUNT_POINT="$AIRLOCK_MOUNT_POINT"
case "$MOUNT_POINT" in
    /*) ;;
    *) fail "mount: $MOUNT_POINT is not an absolute path" ;;
esac
case "$MOUNT_POINT" in
    / | *//* | */ | */./* | */. | */../* | */.. | *[!A-Za-z0-9._/-]* | */-*)
        fail "mount: $MOUNT_POINT is not a normalised absolute path of letters digits and ._-" ;;
esac
case "$MOUNT_POINT" in
    /proc | /proc/* | /sys | /sys/* | /dev | /dev/* | /run | /run/* | /var/run | /var/run/* | /var/lock | /var/lock/*)
        fail "mount: $MOUNT_POINT is on a pseudo-filesystem: not the encrypted volume" ;;
esac
DENIED_TREES="tmp|var/tmp|bin|boot|efi|etc|lib|lib32|lib64|libx32|root|sbin|snap|usr|var/cache|var/db|var/empty|var/log|var/mail|var/spool|opt/aws"
DENIED_TREES="$DENIED_TREES|var/lib/(amazon|apt|cloud|dhclient|dhcp|dnf|dpkg|NetworkManager|polkit-1|private|rpm|snapd|systemd|yum)"
if [[ "$MOUNT_POINT" =~ ^/($DENIED_TREES)(/.*)?$ || "$MOUNT_POINT" =~ ^/(var|var/lib|opt|mnt)$ || "$MOUNT_POINT" =~ ^/home(/[^/]+)?$ ]]; then
    fail "mount: $MOUNT_POINT is a system or scratch or home directory: the volume would hide or lose what is there"
fi

# "major:minor" (decimal) of a block device node, or nothing.
dev_majmin() {
    local major minor
    [ -b "$1" ] || return 0
    read -r major minor <<<"$(stat -L -c '%t %T' "$1")"
    printf '%d:%d\n' "0x$major" "0x$minor"
}

# What is visibly mounted exactly at the mount point (the top of a stack of mounts): "MAJ:MIN SOURCE FSTYPE", or nothing.
mounted_at() {
    findmnt -n -r -o MAJ:MIN,SOURCE,FSTYPE --mountpoint "$1" 2>/dev/null | tail -n 1 || true
}

existing="$(mounted_at "$MOUNT_POINT")"
if [ -n "$existing" ]; then
    read -r existing_majmin existing_source existing_fstype <<<"$existing"
    if [ -z "$(dev_majmin "/dev/mapper/$MAPPER_NAME")" ] || [ "$existing_majmin" != "$(dev_majmin "/dev/mapper/$MAPPER_NAME")" ]; then
        fail "mount: $MOUNT_POINT is already a mount point of $existing_fstype $existing_source: not the encrypted volume"
    fi
fi

# 2. The data volume's id, from the instance tag the env file names (policies/keyNaming.ts
#    DATA_VOLUME_TAG; needs instanceMetadataTags): the volume is made after the instance, so its id
#    is not in the user data. The tag is set just after the instance starts and IMDS can show it
#    late: retried with backoff, before a key is made.
[[ "$AIRLOCK_DATA_VOLUME_TAG" =~ ^[A-Za-z0-9+=.,_:@-]{1,128}$ ]] || fail "not a tag key the metadata service shows: $AIRLOCK_DATA_VOLUME_TAG"
DATA_VOLUME_ID=""
delay=2
for attempt in $(seq 1 "$TAG_ATTEMPTS"); do
    imds_fetch "meta-data/tags/instance/$AIRLOCK_DATA_VOLUME_TAG"
    if [ "$IMDS_STATUS" = 200 ]; then
        DATA_VOLUME_ID="$IMDS_BODY"
        break
    fi
    problem="tag $AIRLOCK_DATA_VOLUME_TAG not readable from the metadata service: HTTP $IMDS_STATUS"
    if [ "$IMDS_STATUS" = 404 ]; then
        # Not set yet, or no instance tags in the metadata service at all: the key list tells.
        imds_fetch meta-data/tags/instance
        problem="tag $AIRLOCK_DATA_VOLUME_TAG not set yet"
        [ "$IMDS_STATUS" != 404 ] || problem="instance tags are not in the metadata service: is instanceMetadataTags enabled?"
    fi
    log "data volume not known yet (attempt $attempt/$TAG_ATTEMPTS): $problem"
    if [ "$attempt" -ge "$TAG_ATTEMPTS" ]; then
        [[ "$problem" != tag* ]] || problem="$problem after $TAG_ATTEMPTS attempts"
        fail "$problem"
    fi
    sleep "$delay"
    delay=$((delay < 30 ? delay * 2 : 30))
done
# Strictly an EBS volume id (it names the device): anything else stops here.
[[ "$DATA_VOLUME_ID" =~ ^vol-[0-9a-f]{8,17}$ ]] ||
    fail "tag $AIRLOCK_DATA_VOLUME_TAG is not an EBS volume id: $(printf '%s' "$DATA_VOLUME_ID" | tr -c 'A-Za-z0-9._:/=+@-' '?' | cut -c1-64)"
log "data volume $DATA_VOLUME_ID (instance tag $AIRLOCK_DATA_VOLUME_TAG)"

# 3. Its ARN names its key object: partition and DNS suffix from the metadata service, region and
#    account from the instance identity document (JSON: python3 is on every image, cloud-init is
#    Python).
PARTITION="$(imds_get meta-data/services/partition)" || fail "partition not readable from the metadata service"
DNS_SUFFIX="$(imds_get meta-data/services/domain)" || fail "DNS suffix not readable from the metadata service"
IDENTITY="$(imds_get dynamic/instance-identity/document |
    python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["region"], d["accountId"])')" ||
    fail "instance identity document not readable from the metadata service"
read -r INSTANCE_REGION ACCOUNT_ID <<<"$IDENTITY"
INSTANCE_ARN="arn:$PARTITION:ec2:$INSTANCE_REGION:$ACCOUNT_ID:instance/$INSTANCE_ID"
[[ "$INSTANCE_ARN" =~ ^arn:aws(-[a-z]+)*:ec2:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:instance/i-[0-9a-f]{8,17}$ ]] ||
    fail "metadata gave no valid instance ARN: $INSTANCE_ARN"
[[ "$DNS_SUFFIX" =~ ^[a-z0-9-]+(\.[a-z0-9-]+)+$ ]] || fail "metadata gave no valid DNS suffix: $DNS_SUFFIX"
KEY_OBJECT="$AIRLOCK_KEY_PREFIX$INSTANCE_ARN"

# 4. The key, into tmpfs only, never anywhere else.
mkdir -p "$KEY_DIR"
chmod 0700 "$KEY_DIR"
case "$(stat -f -c %T "$KEY_DIR" 2>/dev/null || echo unknown)" in
    tmpfs | ramfs) ;;
    *) [ -n "${AIRLOCK_ALLOW_NON_TMPFS_KEY_DIR:-}" ] || fail "$KEY_DIR is not a tmpfs: refusing to write the key to persistent storage" ;;
esac
KEY_FILE="$KEY_DIR/luks.key"

# Reads the stored key (GET) with the role's credentials, retrying with backoff. The role may not
# list the bucket, so a missing object answers 403 like a forbidden one.
fetch_key() {
    local attempt delay=2
    for attempt in $(seq 1 "$KEY_ATTEMPTS"); do
        rm -f "$KEY_FILE"
        if aws_cli s3api get-object --bucket "$AIRLOCK_KEY_BUCKET" --key "$KEY_OBJECT" "$KEY_FILE" >/dev/null 2>"$KEY_DIR/s3.err"; then
            break
        fi
        log "key s3://$AIRLOCK_KEY_BUCKET/$KEY_OBJECT not readable yet (attempt $attempt/$KEY_ATTEMPTS): $(tr '\n' ' ' <"$KEY_DIR/s3.err" | cut -c1-200)"
        rm -f "$KEY_FILE"
        [ "$attempt" -lt "$KEY_ATTEMPTS" ] || fail "key object not readable after $KEY_ATTEMPTS attempts"
        sleep "$delay"
        delay=$((delay < 30 ? delay * 2 : 30))
    done
    rm -f "$KEY_DIR/s3.err"
    chmod 0400 "$KEY_FILE"
    [ -s "$KEY_FILE" ] || fail "key object is empty"
    log "key fetched ($(stat -c %s "$KEY_FILE") bytes, kept in $KEY_DIR only)"
}

# The write-once PUT, signed here with AWS Signature Version 4 (Python's standard library) and sent
# by curl. Not the AWS CLI: Debian 12's and Ubuntu 22.04's cannot send If-None-Match. Not curl's
# --aws-sigv4: before 7.86 (Ubuntu 22.04 has 7.81) it signs neither x-amz-* headers nor the payload
# hash, and S3 refuses that. The role's credentials go from the metadata service to python3 on
# stdin and to curl in a config file in the tmpfs key directory: never on a command line.
# Arguments: bucket key region dns-suffix endpoint body-file kms-key-arn tag-key instance-arn.
SIGN_PUT='
import datetime, hashlib, hmac, json, sys
from urllib.parse import quote, urlsplit
bucket, key, region, suffix, endpoint, body, kms, tag, arn = sys.argv[1:]
creds = json.load(sys.stdin)
path = "/" + quote(key, safe="/~")
if endpoint:
    url = endpoint + "/" + bucket + path
elif "." in bucket:
    url = "https://s3." + region + "." + suffix + "/" + bucket + path
else:
    url = "https://" + bucket + ".s3." + region + "." + suffix + path
with open(body, "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
scope = now[:8] + "/" + region + "/s3/aws4_request"
h = {
    "host": urlsplit(url).netloc,
    "if-none-match": "*",
    "x-amz-content-sha256": digest,
    "x-amz-date": now,
    "x-amz-security-token": creds["Token"],
    "x-amz-server-side-encryption": "aws:kms",
    "x-amz-server-side-encryption-aws-kms-key-id": kms,
    "x-amz-tagging": quote(tag, safe="") + "=" + quote(arn, safe=""),
}
names = sorted(h)
signed = ";".join(names)
canonical = "\n".join(["PUT", urlsplit(url).path, ""] + [n + ":" + h[n] for n in names] + ["", signed, digest])
to_sign = "\n".join(["AWS4-HMAC-SHA256", now, scope, hashlib.sha256(canonical.encode()).hexdigest()])
k = ("AWS4" + creds["SecretAccessKey"]).encode()
for part in scope.split("/"):
    k = hmac.new(k, part.encode(), hashlib.sha256).digest()
signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
h["authorization"] = "AWS4-HMAC-SHA256 Credential=" + creds["AccessKeyId"] + "/" + scope + ", SignedHeaders=" + signed + ", Signature=" + signature
def q(v):
    if not v.isprintable():
        raise SystemExit("a value with a line break or a control character")
    return "\"" + v.replace("\\", "\\\\").replace("\"", "\\\"") + "\""
config = ["url = " + q(url), "upload-file = " + q(body)] + ["header = " + q(n + ": " + h[n]) for n in names + ["authorization"]]
print("\n".join(config))
'

# One write-once PUT of the key file: sets PUT_STATUS (the HTTP status, 000 without an answer) and
# PUT_PROBLEM. Only S3's error code is logged: its error documents can echo signed headers.
put_key_once() {
    local role code error config="$KEY_DIR/put.curl"
    PUT_STATUS=000
    role="$(imds_get meta-data/iam/security-credentials/ | head -n 1)" || true
    if ! [[ "$role" =~ ^[A-Za-z0-9+=,.@_-]+$ ]]; then
        PUT_PROBLEM="no instance role in the metadata service"
        return 0
    fi
    if ! imds_get "meta-data/iam/security-credentials/$role" |
        python3 -c "$SIGN_PUT" "$AIRLOCK_KEY_BUCKET" "$KEY_OBJECT" "$AIRLOCK_REGION" "$DNS_SUFFIX" "$AWS_ENDPOINT" \
            "$KEY_FILE" "$AIRLOCK_KMS_KEY_ARN" "$INSTANCE_ARN_TAG" "$INSTANCE_ARN" >"$config" 2>/dev/null; then
        rm -f "$config"
        PUT_PROBLEM="no role credentials to sign with"
        return 0
    fi
    chmod 0400 "$config"
    PUT_STATUS="$(curl -sS --connect-timeout 10 --max-time 60 -o "$KEY_DIR/put.out" -w '%{http_code}' -K "$config" 2>"$KEY_DIR/put.err")" || true
    rm -f "$config"
    code="$(sed -n 's:.*<Code>\([A-Za-z]*\)</Code>.*:\1:p' "$KEY_DIR/put.out" 2>/dev/null | head -n 1)" || true
    error="$(tr '\n' ' ' <"$KEY_DIR/put.err" | cut -c1-200)"
    PUT_PROBLEM="HTTP $PUT_STATUS${code:+ $code}${error:+ - ${error% }}"
    rm -f "$KEY_DIR/put.out" "$KEY_DIR/put.err"
}

if [ "$MODE" = "first-boot" ]; then
    # From the kernel's CSPRNG, straight into tmpfs; stored once, before anything is formatted.
    # 412: an earlier run of the first boot stored its key: that one is the key.
    rm -f "$KEY_FILE"
    head -c 64 /dev/urandom >"$KEY_FILE"
    chmod 0400 "$KEY_FILE"
    [ "$(stat -c %s "$KEY_FILE")" -eq 64 ] || fail "could not generate a key from /dev/urandom"
    delay=2
    for attempt in $(seq 1 "$KEY_ATTEMPTS"); do
        put_key_once
        if [ "$PUT_STATUS" = 200 ]; then
            log "key generated on this instance and stored once as s3://$AIRLOCK_KEY_BUCKET/$KEY_OBJECT"
            break
        fi
        if [ "$PUT_STATUS" = 412 ]; then
            log "key object already stored by an earlier first boot: discarding the generated key and reading the stored one"
            cleanup_key
            fetch_key
            break
        fi
        log "key not stored yet (attempt $attempt/$KEY_ATTEMPTS): $PUT_PROBLEM"
        [ "$attempt" -lt "$KEY_ATTEMPTS" ] || fail "key object not stored after $KEY_ATTEMPTS attempts: $PUT_PROBLEM"
        sleep "$delay"
        delay=$((delay < 30 ? delay * 2 : 30))
    done
else
    fetch_key
fi

# 5. The data volume, by its EBS volume id: on Nitro it is an NVMe device whose serial is the
#    volume id without the hyphen; never a guessed /dev/xvdf.
find_device() {
    local serial="${DATA_VOLUME_ID//-/}" link ctrl ns
    if [ -n "${AIRLOCK_DATA_DEVICE:-}" ]; then
        printf '%s\n' "$AIRLOCK_DATA_DEVICE"
        return 0
    fi
    for link in /dev/disk/by-id/nvme-*"$serial" /dev/disk/by-id/nvme-*"$serial"_1; do
        if [ -e "$link" ]; then
            readlink -f "$link"
            return 0
        fi
    done
    for ctrl in /sys/class/nvme/nvme*; do
        [ -r "$ctrl/serial" ] || continue
        if [ "$(tr -d ' ' <"$ctrl/serial")" = "$serial" ]; then
            for ns in "$ctrl"/nvme*n1; do
                [ -e "$ns" ] && { printf '/dev/%s\n' "$(basename "$ns")"; return 0; }
            done
        fi
    done
    return 1
}
DEVICE=""
for attempt in $(seq 1 "$DEVICE_ATTEMPTS"); do
    if DEVICE="$(find_device)"; then
        break
    fi
    [ "$attempt" -eq "$DEVICE_ATTEMPTS" ] && fail "data volume $DATA_VOLUME_ID is not attached"
    sleep 2
done
log "data volume $DATA_VOLUME_ID is $DEVICE"

# 6. LUKS2, idempotently: format only a blank device; a LUKS header is only ever opened.
if cryptsetup isLuks "$DEVICE"; then
    log "LUKS header present: opening, never reformatting"
elif [ "$MODE" = "unlock" ]; then
    fail "$DEVICE has no LUKS header; the unlock unit never formats"
elif [ -n "$(blkid -p -o value -s TYPE "$DEVICE" 2>/dev/null || true)" ] || [ -n "$(blkid -p -o value -s PTTYPE "$DEVICE" 2>/dev/null || true)" ]; then
    fail "$DEVICE is not blank and not LUKS: refusing to format it"
else
    log "blank device: creating a LUKS2 header"
    cryptsetup luksFormat --batch-mode --type luks2 --key-file "$KEY_FILE" "$DEVICE" || fail "luksFormat failed on $DEVICE"
fi
# A header this instance's key does not open (another instance's volume, a wrong key object) is
# never re-keyed.
cryptsetup open --test-passphrase --key-file "$KEY_FILE" "$DEVICE" ||
    fail "the key does not open $DEVICE: its LUKS header was made with another key - a wrong key object or the volume of another instance - never re-keyed"

if [ ! -e "/dev/mapper/$MAPPER_NAME" ]; then
    cryptsetup open --key-file "$KEY_FILE" "$DEVICE" "$MAPPER_NAME" || fail "cannot map $DEVICE (is device-mapper available?)"
fi
cleanup_key
log "volume unlocked as /dev/mapper/$MAPPER_NAME; key removed"

# 7. A filesystem only when the opened device has none; then mount.
if [ -z "$(blkid -p -o value -s TYPE "/dev/mapper/$MAPPER_NAME" 2>/dev/null || true)" ]; then
    [ "$MODE" = "first-boot" ] || fail "no filesystem on the unlocked volume; the unlock unit never creates one"
    log "creating an ext4 filesystem"
    mkfs.ext4 -q -L airlock-data "/dev/mapper/$MAPPER_NAME" || fail "mkfs.ext4 failed"
fi
mkdir -p "$MOUNT_POINT"
if [ -z "$(mounted_at "$MOUNT_POINT")" ]; then
    mount -o nodev,nosuid "/dev/mapper/$MAPPER_NAME" "$MOUNT_POINT" || fail "cannot mount on $MOUNT_POINT"
fi

# Data must land on the encrypted volume: what is visible exactly at the mount point is this
# mapping, and the mapping is LUKS on this data volume. Never "mounted" otherwise.
verify_mount() {
    local mapper="/dev/mapper/$MAPPER_NAME" mapper_majmin top majmin source fstype status backing loop_file
    mapper_majmin="$(dev_majmin "$mapper")"
    [ -n "$mapper_majmin" ] || fail "mount: $mapper is not a block device"
    top="$(mounted_at "$MOUNT_POINT")"
    [ -n "$top" ] || fail "mount: $MOUNT_POINT is not a mount point after mounting"
    read -r majmin source fstype <<<"$top"
    [ "$majmin" = "$mapper_majmin" ] ||
        fail "mount: $MOUNT_POINT is not on the encrypted volume: $fstype $source $majmin is mounted there and not $mapper $mapper_majmin"
    status="$(cryptsetup status "$MAPPER_NAME" 2>/dev/null)" || fail "mount: cryptsetup has no status for $MAPPER_NAME"
    grep -Eq '^ *type: +LUKS2$' <<<"$status" || fail "mount: $mapper is not a LUKS2 mapping"
    backing="$(awk '$1 == "device:" { print $2 }' <<<"$status")"
    loop_file="$(awk '$1 == "loop:" { print $2 }' <<<"$status")"
    if [ -b "$DEVICE" ]; then
        if [ -z "$backing" ] || [ "$(dev_majmin "$backing")" != "$(dev_majmin "$DEVICE")" ]; then
            fail "mount: $mapper is backed by ${backing:-nothing} and not the data volume $DATA_VOLUME_ID $DEVICE"
        fi
    else
        # A file-backed image (tests): cryptsetup mapped it through a loop device.
        if [ -z "$loop_file" ] || [ "$(readlink -f "$loop_file")" != "$(readlink -f "$DEVICE")" ]; then
            fail "mount: $mapper is backed by ${loop_file:-${backing:-nothing}} and not the data image $DEVICE"
        fi
    fi
    log "verified: $MOUNT_POINT is $mapper ($mapper_majmin, $fstype), LUKS2 on the data volume $DATA_VOLUME_ID ($DEVICE)"
}
verify_mount
log "mounted $MOUNT_POINT"

# 8. Unlock again at every boot (the key is read again; it is never stored on the host).
if [ "$MODE" = "first-boot" ] && command -v systemctl >/dev/null 2>&1 && [ -z "${AIRLOCK_NO_SYSTEMD:-}" ]; then
    systemctl daemon-reload
    systemctl enable airlock-unlock.service >/dev/null 2>&1 || fail "cannot enable airlock-unlock.service"
    log "airlock-unlock.service enabled"
fi

signal success ""
log "done status=success"
