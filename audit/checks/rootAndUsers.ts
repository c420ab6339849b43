import type { Finding } from "../findings";
import type { CredentialReportKey, CredentialReportRow, IamInventory } from "../iamInventory";

/**
 * The root-and-users check (issue 10, "Root and users"), from the credential report (one per
 * account: fetchCredentialReport) and the IAM inventory: no AWS calls here. Decisions, after the
 * CIS AWS Foundations Benchmark (v3.0):
 * - Root (the `<root_account>` row, never counted as a user): an ACTIVE access key fails, critical
 *   (CIS 1.4); a key that exists but is inactive fails, medium (delete it: activating it is one call
 *   away); no MFA fails, critical (CIS 1.5). No root row (moto's reports have none) is an error: root
 *   was not checked, and that is never a pass.
 * - MFA for users: only users with a console password need it (CIS 1.10, "MFA is enabled for all IAM
 *   users that have a console password"): an access key cannot carry an MFA device, and users with
 *   keys only are kept in line by Force_MFA's coverage (group-policies check) and by the unused-key
 *   check here. Users in `mfaIgnoreUsers` (CloudKestrel's IAM_USER_MFA_ENABLED IgnoreUsers) are not
 *   required to have MFA.
 * - Unused credentials (CIS 1.12, `unusedDays` for its 45): a password, or an ACTIVE access key, not
 *   used for `unusedDays` days or more fails, medium. One never used counts from when it was set: the
 *   password from `password_last_changed`, a key from `access_key_N_last_rotated` (its creation),
 *   either from the user's creation when that date is missing.
 * - A user the inventory lists and the report does not (created after the report was generated)
 *   was not checked: an error finding. A report row for a user no longer in IAM is skipped (only
 *   when the inventory listed users at all).
 * What is fine gives pass findings: root's two, and one per user check for all users together.
 * Titles name the threshold, never a count of days or users (those are in the evidence): the OCSF
 * uid is derived from the title, so the same finding keeps its uid from one day's run to the next.
 */

export interface RootAndUsersOptions {
    /** The target's name, as in the targets file. */
    readonly target: string;
    readonly accountId: string;
    /** A password or active key unused this many days or more is a finding (CIS: 45). */
    readonly unusedDays: number;
    /** When the audit runs (ages are counted to it). */
    readonly now: Date;
    /** Users not required to have MFA (CloudKestrel's IAM_USER_MFA_ENABLED IgnoreUsers), ignoring case. @default [] */
    readonly mfaIgnoreUsers?: readonly string[];
    /** When the report was generated, for the evidence of users it does not have. */
    readonly reportGeneratedAt?: Date;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export function checkRootAndUsers(report: readonly CredentialReportRow[], inv: IamInventory, options: RootAndUsersOptions): Finding[] {
    const findings: Finding[] = [];
    const finding = (f: Omit<Finding, "target" | "accountId" | "region" | "check">): void => {
        findings.push({ target: options.target, accountId: options.accountId, region: "global", check: "root-and-users", ...f });
    };
    const iso = (d: Date | undefined): string | null => (d === undefined ? null : d.toISOString());

    // Root
    const root = report.find((r) => r.isRoot);
    if (root === undefined) {
        finding({
            resource: "root",
            status: "error",
            severity: "critical",
            title: "The credential report has no root row: root's access keys and MFA were not checked",
            evidence: { rows: report.length, reportGeneratedAt: iso(options.reportGeneratedAt) },
        });
    } else {
        const active = root.accessKeys.filter((k) => k.active);
        const inactive = root.accessKeys.filter((k) => !k.active);
        const keys = root.accessKeys.map((k) => keyEvidence(k));
        if (active.length > 0) {
            finding({
                resource: root.arn,
                status: "fail",
                severity: "critical",
                title: `Root has ${active.length === 1 ? "an active access key" : `${active.length} active access keys`}`,
                evidence: { accessKeys: keys },
            });
        } else if (inactive.length > 0) {
            finding({
                resource: root.arn,
                status: "fail",
                severity: "medium",
                title: `Root has ${inactive.length === 1 ? "an inactive access key" : `${inactive.length} inactive access keys`}: delete ${inactive.length === 1 ? "it" : "them"}`,
                evidence: { accessKeys: keys },
            });
        } else {
            finding({ resource: root.arn, status: "pass", severity: "informational", title: "Root has no access keys", evidence: { accessKeys: [] } });
        }
        finding({
            resource: root.arn,
            status: root.mfaActive ? "pass" : "fail",
            severity: root.mfaActive ? "informational" : "critical",
            title: root.mfaActive ? "Root has MFA" : "Root has no MFA",
            evidence: { mfaActive: root.mfaActive, passwordLastUsed: iso(root.passwordLastUsed) },
        });
    }

    // Users: the report's user rows, less users no longer in IAM (when the inventory listed users).
    const listedUsers = inv.entities.includes("User");
    const inIam = new Set(inv.users.map((u) => u.arn));
    const rows = report.filter((r) => !r.isRoot);
    const users = rows.filter((r) => !listedUsers || inIam.has(r.arn)).sort((a, b) => byName(a.user, b.user));
    const gone = rows.filter((r) => !users.includes(r)).map((r) => r.user);

    if (listedUsers) {
        const inReport = new Set(rows.map((r) => r.arn));
        for (const user of [...inv.users].filter((u) => !inReport.has(u.arn)).sort((a, b) => byName(a.name, b.name))) {
            finding({
                resource: user.arn,
                status: "error",
                severity: "medium",
                title: `User ${user.name} is not in the credential report: MFA and credential age not checked`,
                evidence: { user: user.name, userCreated: iso(user.createDate), reportGeneratedAt: iso(options.reportGeneratedAt) },
            });
        }
    }

    // MFA for console users (CIS 1.10)
    const ignored = (options.mfaIgnoreUsers ?? []).map((u) => u.toLowerCase());
    const consoleUsers = users.filter((r) => r.passwordEnabled === true);
    const ignoredPresent = consoleUsers.filter((r) => ignored.includes(r.user.toLowerCase())).map((r) => r.user);
    const withoutMfa = consoleUsers.filter((r) => !r.mfaActive && !ignored.includes(r.user.toLowerCase()));
    for (const r of withoutMfa) {
        finding({
            resource: r.arn,
            status: "fail",
            severity: "high",
            title: `User ${r.user} has a console password and no MFA`,
            evidence: { user: r.user, passwordEnabled: true, mfaActive: false, passwordLastUsed: iso(r.passwordLastUsed) },
        });
    }
    if (withoutMfa.length === 0) {
        finding({
            resource: "users",
            status: "pass",
            severity: "informational",
            title: "Every console user has MFA",
            evidence: { consoleUsers: consoleUsers.length, ignoredUsers: ignoredPresent },
        });
    }

    // Unused credentials (CIS 1.12)
    const limitMs = options.unusedDays * DAY_MS;
    const days = (since: Date): number => Math.floor((options.now.getTime() - since.getTime()) / DAY_MS);
    let unused = 0;
    for (const r of users) {
        if (r.passwordEnabled === true) {
            const since = r.passwordLastUsed ?? r.passwordLastChanged ?? r.userCreationTime;
            if (since !== undefined && options.now.getTime() - since.getTime() >= limitMs) {
                unused++;
                finding({
                    resource: r.arn,
                    status: "fail",
                    severity: "medium",
                    title:
                        r.passwordLastUsed !== undefined
                            ? `User ${r.user}'s password has not been used for ${options.unusedDays} days or more`
                            : `User ${r.user}'s password has never been used, and was set ${options.unusedDays} days or more ago`,
                    evidence: {
                        user: r.user,
                        credential: "password",
                        lastUsed: iso(r.passwordLastUsed),
                        since: iso(since),
                        days: days(since),
                        unusedDays: options.unusedDays,
                    },
                });
            }
        }
        for (const key of r.accessKeys.filter((k) => k.active)) {
            const since = key.lastUsed ?? key.lastRotated ?? r.userCreationTime;
            if (since !== undefined && options.now.getTime() - since.getTime() >= limitMs) {
                unused++;
                finding({
                    resource: r.arn,
                    status: "fail",
                    severity: "medium",
                    title:
                        key.lastUsed !== undefined
                            ? `User ${r.user}'s access key ${key.slot} has not been used for ${options.unusedDays} days or more`
                            : `User ${r.user}'s access key ${key.slot} has never been used, and was created ${options.unusedDays} days or more ago`,
                    evidence: {
                        user: r.user,
                        credential: `access_key_${key.slot}`,
                        lastUsed: iso(key.lastUsed),
                        since: iso(since),
                        days: days(since),
                        unusedDays: options.unusedDays,
                    },
                });
            }
        }
    }
    if (unused === 0) {
        finding({
            resource: "users",
            status: "pass",
            severity: "informational",
            title: `No password or access key unused for ${options.unusedDays} days or more`,
            evidence: { users: users.length, unusedDays: options.unusedDays, ...(gone.length > 0 ? { notInIamAnyMore: gone } : {}) },
        });
    }
    return findings;
}

function keyEvidence(k: CredentialReportKey): Record<string, unknown> {
    return {
        slot: k.slot,
        active: k.active,
        lastRotated: k.lastRotated?.toISOString() ?? null,
        lastUsed: k.lastUsed?.toISOString() ?? null,
    };
}

/** Names in a person's order: ignoring case first, then as written (deterministic). */
export function byName(a: string, b: string): number {
    const la = a.toLowerCase();
    const lb = b.toLowerCase();
    return la < lb ? -1 : la > lb ? 1 : a < b ? -1 : a > b ? 1 : 0;
}
