/**
 * Where an instance's LUKS data volume may be mounted. The boot script mounts the opened volume at
 * this path; if the path is a system directory, an empty filesystem hides the system's own files,
 * and if it is already a mount point (a pseudo-filesystem such as /proc or /dev/shm), the data would
 * land in memory or on the root volume instead of the encrypted volume.
 */

/** Longest mount point accepted (the cloud-init renderer's limit: "/" and 200 characters). */
export const MOUNT_POINT_MAX_LENGTH = 201;

/** Characters a path segment may use: letters, digits, dot, underscore and hyphen. */
const SEGMENT = /^[A-Za-z0-9._-]+$/;

type Scope =
    /** The directory and everything below it. */
    | "tree"
    /** The directory itself; directories below it are allowed. */
    | "itself"
    /** The directory and its direct children; deeper directories are allowed. */
    | "children";

interface DeniedPath {
    readonly path: string;
    readonly scope: Scope;
    /** Why: ends the message "`...mountPoint` is "/x", <kind>: <why>." */
    readonly kind: "system" | "pseudo" | "scratch" | "home" | "instance-store";
}

/**
 * The deny-list. Pseudo-filesystems (kernel or memory: /proc, /sys, /dev with /dev/shm, /run with
 * /var/run and /var/lock), the scratch directories (/tmp is tmpfs on some distributions; systemd
 * empties /tmp and /var/tmp by age or at boot; both are world-writable) and the operating system's
 * own trees are refused with everything below them. /var, /var/lib and
 * /opt are refused themselves, but an application's own directory below them (/var/lib/postgresql,
 * /opt/app/data) is allowed, except the package managers', cloud-init's, systemd's and the AWS
 * agents' state. /home and each user's home are refused (they hold the login users' SSH keys); a
 * directory inside a home is allowed. /mnt is where cloud-init mounts instance storage.
 */
export const DENIED_MOUNT_POINTS: readonly DeniedPath[] = [
    { path: "/", scope: "itself", kind: "system" },
    ...["/proc", "/sys", "/dev", "/run", "/var/run", "/var/lock"].map((path) => ({ path, scope: "tree" as const, kind: "pseudo" as const })),
    ...["/tmp", "/var/tmp"].map((path) => ({ path, scope: "tree" as const, kind: "scratch" as const })),
    ...[
        "/bin",
        "/boot",
        "/efi",
        "/etc",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/root",
        "/sbin",
        "/snap",
        "/usr",
        "/var/cache",
        "/var/db",
        "/var/empty",
        "/var/log",
        "/var/mail",
        "/var/spool",
        "/var/lib/amazon",
        "/var/lib/apt",
        "/var/lib/cloud",
        "/var/lib/dhclient",
        "/var/lib/dhcp",
        "/var/lib/dnf",
        "/var/lib/dpkg",
        "/var/lib/NetworkManager",
        "/var/lib/polkit-1",
        "/var/lib/private",
        "/var/lib/rpm",
        "/var/lib/snapd",
        "/var/lib/systemd",
        "/var/lib/yum",
        "/opt/aws",
    ].map((path) => ({ path, scope: "tree" as const, kind: "system" as const })),
    ...["/var", "/var/lib", "/opt"].map((path) => ({ path, scope: "itself" as const, kind: "system" as const })),
    { path: "/home", scope: "children", kind: "home" },
    { path: "/mnt", scope: "itself", kind: "instance-store" },
];

export type MountPointCheck =
    | { readonly ok: true }
    | {
          readonly ok: false;
          /** What is wrong, worded to follow "`<field>` ": "must be an absolute path ...", "is a system directory: ...". */
          readonly problem: string;
          /** The same path written correctly, when that path would be accepted. */
          readonly suggestion?: string;
          /** True when the path is well formed but on the deny-list. */
          readonly denied?: true;
      };

/** The entry of the deny-list that refuses `path` (already normalised), if any. */
export function deniedBy(path: string): DeniedPath | undefined {
    for (const denied of DENIED_MOUNT_POINTS) {
        const below = denied.path === "/" ? path !== "/" : path.startsWith(`${denied.path}/`);
        const depth = below ? path.slice(denied.path.length).split("/").length - 1 : 0;
        const hit =
            path === denied.path ||
            (denied.scope === "tree" && below) ||
            (denied.scope === "children" && below && depth === 1);
        if (hit) {
            return denied;
        }
    }
    return undefined;
}

/** `path` with empty and "." segments dropped, ".." resolved and no trailing slash; undefined if ".." climbs above /. */
function normalise(path: string): string | undefined {
    const kept: string[] = [];
    for (const segment of path.split("/")) {
        if (segment === "" || segment === ".") {
            continue;
        }
        if (segment === "..") {
            if (kept.pop() === undefined) {
                return undefined;
            }
            continue;
        }
        kept.push(segment);
    }
    return `/${kept.join("/")}`;
}

/** "is <where>: <why>" for a path the deny-list refuses. */
function deniedProblem(path: string, denied: DeniedPath): string {
    switch (denied.kind) {
        case "pseudo":
            return `is on a pseudo-filesystem (${denied.path}), held by the kernel or in memory: data written there would not land on the encrypted volume`;
        case "scratch":
            return `is ${path === denied.path ? "a scratch directory" : `below ${denied.path}, a scratch directory`}: it is world-writable, tmpfs on some distributions, and systemd-tmpfiles deletes what it holds`;
        case "home":
            return `${path === denied.path ? "holds the users' home directories" : "is a user's home directory"}: mounting the data volume there would hide them (and the login users' SSH keys) under an empty filesystem`;
        case "instance-store":
            return "is where cloud-init mounts the instance store on instance types that have one";
        case "system": {
            const where = path === "/" ? "the root directory" : path === denied.path ? "a system directory" : `below ${denied.path}, a system directory`;
            return `is ${where}: mounting the data volume there would hide the operating system's own files under an empty filesystem`;
        }
    }
}

/**
 * Checks a mount point: an absolute, normalised path (no empty, "." or ".." segments, no trailing
 * slash) of letters, digits and ._- (no segment starting with "-"), at most 201 characters, and not
 * on the deny-list. A refused path comes back with the problem, worded to follow "`<field>` ".
 */
export function checkMountPoint(path: string): MountPointCheck {
    const suggest = (): { suggestion?: string } => {
        const normal = normalise(path);
        return normal !== undefined && normal !== path && checkMountPoint(normal).ok ? { suggestion: normal } : {};
    };
    if (!path.startsWith("/")) {
        return { ok: false, problem: "must be an absolute path (starting with /)", ...(SEGMENT.test(path.replace(/\//g, "")) ? suggestAbsolute(path) : {}) };
    }
    const segments = path.split("/").slice(1);
    if (path !== "/" && segments.some((s) => s === "" || s === "." || s === "..")) {
        return { ok: false, problem: "must be a normalised path, without //, a trailing /, or . and .. segments", ...suggest() };
    }
    if (path !== "/" && !segments.every((s) => SEGMENT.test(s))) {
        return { ok: false, problem: "may use only letters, digits and ._- between its slashes" };
    }
    if (segments.some((s) => s.startsWith("-"))) {
        return { ok: false, problem: "may not have a directory name starting with - (it would read as an option)" };
    }
    if (path.length > MOUNT_POINT_MAX_LENGTH) {
        return { ok: false, problem: `is ${path.length} characters long; at most ${MOUNT_POINT_MAX_LENGTH} are allowed` };
    }
    const denied = deniedBy(path);
    return denied === undefined ? { ok: true } : { ok: false, problem: deniedProblem(path, denied), denied: true };
}

/** "data" → "/data", when that is an accepted mount point. */
function suggestAbsolute(path: string): { suggestion?: string } {
    const absolute = normalise(`/${path}`);
    return absolute !== undefined && checkMountPoint(absolute).ok ? { suggestion: absolute } : {};
}
