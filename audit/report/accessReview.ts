/**
 * The quarterly access review (issue 11, "Reports from the database"; iso-cloud-auditor's "User &
 * Permission audit report"): once a quarter an account's business owner approves every user's
 * access. Rendered from the records database (audit/records/queries.ts accessReviewData), never
 * from AWS, as:
 *
 * - HTML: one self-contained page, printable (landscape), like the audit's report (html.ts): CSS
 *   inline in one <style>, no script, no external reference, a Content-Security-Policy that forbids
 *   every fetch; every value escaped by mustache (`{{ }}` only, never `{{{ }}}` or `{{& }}`), and no
 *   value in a URL attribute. A header (account, as-of, last audited, counts), one row per user, an
 *   empty "Decision" cell per user and an empty sign-off area for the owner.
 * - CSV (RFC 4180): a header row, then one row per user; multi-valued cells joined with "; ";
 *   CRLF line ends; cells that a spreadsheet would run as a formula are defused (csvCell).
 *
 * "Admin rights" are what adminsOn (queries.ts) finds — AdministratorAccess or a policy allowing "*"
 * on "*", directly or through a group — plus the AWS-managed policies the project itself calls
 * admin-equivalent (config/adminPolicies.ts: PowerUserAccess, IAMFullAccess, …), each with why.
 *
 * The template is a TypeScript constant, as html.ts's is, so that it ships inside the module.
 */
import Mustache from "mustache";
import { adminEquivalentPolicy } from "../../config/adminPolicies";
import type { AccessReview, AccessReviewUser, AdminPrincipal, ReviewAccessKey } from "../records/queries";

/** What the review shows of each user's admin rights: user ARN → reasons. */
export type AdminRights = ReadonlyMap<string, readonly string[]>;

/** The review and what goes with it. */
export interface AccessReviewReport {
    readonly review: AccessReview;
    /** Admin rights per user ARN (adminRightsOf). */
    readonly adminRights: AdminRights;
    /** When the report was made. */
    readonly generatedAt: Date;
}

/**
 * Each user's admin rights: adminsOn's reasons (full admin), then the admin-equivalent AWS-managed
 * policies in effect for the user that adminsOn does not count (AdministratorAccess is its).
 */
export function adminRightsOf(review: AccessReview, admins: readonly AdminPrincipal[]): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const a of admins) if (a.type === "user") out.set(a.arn, [...a.via]);
    for (const user of review.users) {
        for (const p of user.managedPolicies) {
            const equivalent = adminEquivalentPolicy(p.arn);
            if (equivalent === undefined || equivalent.name === "AdministratorAccess") continue;
            const reasons = out.get(user.arn) ?? [];
            // Worded as adminsOn words its reasons ("group Admins: attached AdministratorAccess (arn)").
            for (const via of p.via) reasons.push(`${via === "direct" ? "" : `${via}: `}attached ${p.name} (${p.arn}), admin-equivalent: ${equivalent.why}`);
            out.set(user.arn, reasons);
        }
    }
    return out;
}

/** "direct" / "group X" as the review shows it. */
const viaText = (via: string): string => (via === "direct" ? "attached directly" : via);
const inlineViaText = (via: string): string => (via === "user" ? "own" : via);

// ---------------------------------------------------------------------------------------------
// Shown values

/** A time as people read it in the page: "2026-11-30 08:00 UTC". */
export function humanTime(iso: string): string {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 16)} UTC`;
}

const yesNo = (value: boolean | null): string => (value === null ? "unknown" : value ? "yes" : "no");

function keyText(k: ReviewAccessKey, time: (iso: string) => string): string {
    const age = k.ageDays === null ? "age unknown" : `${k.ageDays} day${k.ageDays === 1 ? "" : "s"} old`;
    const used = k.lastUsed === null ? "never used" : `last used ${time(k.lastUsed)}${k.lastUsedService === null ? "" : ` (${k.lastUsedService})`}`;
    return `key ${k.slot}: ${k.active ? "active" : "inactive"}, ${age}, ${used}`;
}

function passwordLastUsedText(user: AccessReviewUser, time: (iso: string) => string): string {
    if (user.passwordLastUsed !== null) return time(user.passwordLastUsed);
    // The report's "N/A" (no password), "no_information" and an unused password all read as null.
    return user.passwordEnabled === true ? "no use recorded" : "";
}

export interface AccessReviewCounts {
    readonly users: number;
    readonly withoutMfa: number;
    readonly mfaUnknown: number;
    readonly withAdminRights: number;
}

function countsOf(report: AccessReviewReport): AccessReviewCounts {
    const users = report.review.users;
    return {
        users: users.length,
        withoutMfa: users.filter((u) => u.mfaActive === false).length,
        mfaUnknown: users.filter((u) => u.mfaActive === null).length,
        withAdminRights: users.filter((u) => (report.adminRights.get(u.arn)?.length ?? 0) > 0).length,
    };
}

// ---------------------------------------------------------------------------------------------
// HTML

const STYLE = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: #1b1b1b; background: #fff; margin: 1.5rem auto; max-width: 110rem; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 1.75rem 0 .5rem; border-bottom: 2px solid #ddd; padding-bottom: .2rem; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace; font-size: .8rem; overflow-wrap: anywhere; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; margin: .5rem 0; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
table { border-collapse: collapse; margin: .5rem 0; width: 100%; }
th, td { border: 1px solid #c8c8c8; padding: .3rem .45rem; text-align: left; vertical-align: top; }
thead th { background: #f0f0f0; position: sticky; top: 0; }
tbody th { min-width: 13rem; }
ul { margin: 0; padding-left: 1rem; }
li { margin: 0 0 .15rem; }
.arn { display: block; color: #555; }
.via { color: #555; font-size: .8rem; }
.none { color: #777; font-style: italic; }
.warn { color: #b71c1c; font-weight: 700; }
.ok { color: #2e7d32; font-weight: 600; }
td.admin li { color: #b71c1c; }
td.decision { min-width: 9rem; }
.legend { font-size: .85rem; color: #444; max-width: 60rem; }
.signoff { display: grid; grid-template-columns: max-content minmax(18rem, 30rem); gap: 1.2rem 1rem; margin: 1rem 0 2rem; align-items: end; }
.signoff dt { font-weight: 600; }
.signoff dd { margin: 0; border-bottom: 1px solid #1b1b1b; min-height: 1.6rem; }
@page { size: landscape; margin: 1.2cm; }
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 9pt; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
  #signoff { break-inside: avoid; }
}
`;

/** The page; exported so that a test can check it uses escaped tags only. */
export const ACCESS_REVIEW_TEMPLATE = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Access review, account {{accountId}}, as of {{asOf}}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>Access review: account {{accountId}}</h1>
<dl class="facts" id="facts">
<dt>Account</dt><dd data-fact="account">{{accountId}}</dd>
<dt>As of</dt><dd data-fact="as-of"><time datetime="{{asOfIso}}">{{asOf}}</time></dd>
<dt>Last audited</dt><dd data-fact="last-audited">{{#lastAudited}}<time datetime="{{lastAuditedIso}}">{{lastAudited}}</time>{{/lastAudited}}{{^lastAudited}}<span class="none">no audit of its users recorded</span>{{/lastAudited}}</dd>
<dt>Users</dt><dd data-fact="users">{{counts.users}}</dd>
<dt>Without MFA</dt><dd data-fact="without-mfa">{{counts.withoutMfa}}{{#counts.mfaUnknown}} (and {{counts.mfaUnknown}} not in the credential report){{/counts.mfaUnknown}}</dd>
<dt>With admin rights</dt><dd data-fact="admins">{{counts.withAdminRights}}</dd>
</dl>
<p class="legend">For each user, approve the access shown or write in "Decision" what must change (remove the user, a group, a policy or a key). Managed policies are those attached to the user and to its groups, with where each comes from; admin rights are AdministratorAccess or a policy allowing every action on every resource, and the AWS-managed policies that are admin-equivalent. MFA, password and keys come from the account's IAM credential report; ages are counted to the as-of time.</p>
</header>
<main>
<section id="users">
<h2>Users</h2>
<table class="users">
<thead><tr><th scope="col">User</th><th scope="col">Path</th><th scope="col">Created</th><th scope="col">Groups</th><th scope="col">Managed policies</th><th scope="col">Inline policies</th><th scope="col">Admin rights</th><th scope="col">MFA</th><th scope="col">Password</th><th scope="col">Password last used</th><th scope="col">Access keys</th><th scope="col">Last audited</th><th scope="col">Decision</th></tr></thead>
<tbody>
{{#users}}<tr data-user="{{index}}">
<th scope="row" data-col="user">{{name}} <code class="arn">{{arn}}</code></th>
<td data-col="path"><code>{{path}}</code></td>
<td data-col="created">{{created}}</td>
<td data-col="groups">{{#hasGroups}}<ul>{{#groups}}<li>{{.}}</li>{{/groups}}</ul>{{/hasGroups}}{{^hasGroups}}<span class="none">none</span>{{/hasGroups}}</td>
<td data-col="managed">{{#hasManaged}}<ul>{{#managed}}<li>{{name}} <span class="via">({{via}})</span> <code class="arn">{{arn}}</code></li>{{/managed}}</ul>{{/hasManaged}}{{^hasManaged}}<span class="none">none</span>{{/hasManaged}}</td>
<td data-col="inline">{{#hasInline}}<ul>{{#inline}}<li>{{name}} <span class="via">({{via}})</span></li>{{/inline}}</ul>{{/hasInline}}{{^hasInline}}<span class="none">none</span>{{/hasInline}}</td>
<td data-col="admin" class="admin">{{#hasAdmin}}<ul>{{#admin}}<li>{{.}}</li>{{/admin}}</ul>{{/hasAdmin}}{{^hasAdmin}}<span class="none">none</span>{{/hasAdmin}}</td>
<td data-col="mfa" class="{{mfaClass}}">{{mfa}}</td>
<td data-col="password">{{password}}</td>
<td data-col="password-last-used">{{passwordLastUsed}}</td>
<td data-col="keys">{{#hasKeys}}<ul>{{#keys}}<li>{{.}}</li>{{/keys}}</ul>{{/hasKeys}}{{^hasKeys}}<span class="none">none</span>{{/hasKeys}}</td>
<td data-col="last-audited">{{lastAudited}}</td>
<td data-col="decision" class="decision"></td>
</tr>
{{/users}}{{^users}}<tr><td colspan="13" class="none">The account has no users.</td></tr>
{{/users}}</tbody>
</table>
</section>
<section id="signoff">
<h2>Sign-off</h2>
<p class="legend">I have reviewed the access of every user above; what must change is written in "Decision".</p>
<dl class="signoff">
<dt>Approved by (name, role)</dt><dd data-signoff="approved-by"></dd>
<dt>Date</dt><dd data-signoff="date"></dd>
<dt>Signature</dt><dd data-signoff="signature"></dd>
</dl>
</section>
</main>
<footer><p class="legend">Made by airlock-audit history from the records database at <time datetime="{{generatedAtIso}}">{{generatedAt}}</time>, without calling AWS.</p></footer>
</body>
</html>
`;

/** Renders the review as one self-contained HTML page. */
export function renderAccessReviewHtml(report: AccessReviewReport): string {
    return Mustache.render(ACCESS_REVIEW_TEMPLATE, htmlView(report));
}

/** The view the template renders: plain strings, numbers, booleans and lists of them. */
function htmlView(report: AccessReviewReport) {
    const { review } = report;
    return {
        accountId: review.accountId,
        asOf: humanTime(review.asOf),
        asOfIso: review.asOf,
        lastAudited: review.lastAudited === null ? "" : humanTime(review.lastAudited),
        lastAuditedIso: review.lastAudited ?? "",
        counts: countsOf(report),
        generatedAt: humanTime(report.generatedAt.toISOString()),
        generatedAtIso: report.generatedAt.toISOString(),
        users: review.users.map((u, index) => {
            const admin = [...(report.adminRights.get(u.arn) ?? [])];
            const keys = u.accessKeys.map((k) => keyText(k, humanTime));
            return {
                index,
                name: u.name ?? "",
                arn: u.arn,
                path: u.path ?? "",
                created: u.createDate === null ? "" : humanTime(u.createDate),
                groups: u.groups.map((g) => g.name),
                hasGroups: u.groups.length > 0,
                managed: u.managedPolicies.map((p) => ({ name: p.name, arn: p.arn, via: p.via.map(viaText).join(", ") })),
                hasManaged: u.managedPolicies.length > 0,
                inline: u.inlinePolicies.map((p) => ({ name: p.name, via: inlineViaText(p.via) })),
                hasInline: u.inlinePolicies.length > 0,
                admin,
                hasAdmin: admin.length > 0,
                mfa: yesNo(u.mfaActive),
                mfaClass: u.mfaActive === false ? "warn" : u.mfaActive === true ? "ok" : "none",
                password: u.passwordEnabled === null ? "unknown" : u.passwordEnabled ? "enabled" : "disabled",
                passwordLastUsed: passwordLastUsedText(u, humanTime),
                keys,
                hasKeys: keys.length > 0,
                lastAudited: humanTime(u.lastAudited),
            };
        }),
    };
}

// ---------------------------------------------------------------------------------------------
// CSV

/**
 * A CSV cell (RFC 4180): quoted when it holds a quote, comma, CR or LF, quotes doubled.
 *
 * Formula injection (OWASP "CSV Injection"): Excel, LibreOffice and Google Sheets run a cell that
 * starts with "=", "+", "-" or "@" as a formula, and tab or CR can hide such a start from a
 * reader; a formula can call out (=WEBSERVICE, =HYPERLINK) or, in old Excel, run a program (DDE).
 * IAM allows "=", "+", "-" and "@" in user, group and policy names, so a name is attacker-chosen
 * data: such a cell gets a leading apostrophe, which spreadsheets take as "this is text" and do not
 * show. The review's numbers (ages in days) are never negative, so no number is touched.
 */
export function csvCell(value: string): string {
    const defused = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
    return /[",\r\n]/.test(defused) ? `"${defused.replace(/"/g, '""')}"` : defused;
}

/** The CSV's columns, with slots 1 and 2 (IAM's two access keys) or as many as a user has. */
function csvHeader(slots: number): string[] {
    const keys: string[] = [];
    for (let s = 1; s <= slots; s++) keys.push(`Key ${s} active`, `Key ${s} age (days)`, `Key ${s} last used`, `Key ${s} last used service`);
    return [
        "User",
        "ARN",
        "Path",
        "Created",
        "Groups",
        "Managed policies",
        "Inline policies",
        "Admin rights",
        "MFA",
        "Password enabled",
        "Password last used",
        ...keys,
        "Last audited",
        "Decision",
    ];
}

const JOIN = "; ";

/** Renders the review as CSV: a header row, one row per user, CRLF line ends. */
export function renderAccessReviewCsv(report: AccessReviewReport): string {
    const users = report.review.users;
    const slots = Math.max(2, ...users.flatMap((u) => u.accessKeys.map((k) => k.slot)));
    const iso = (value: string): string => value;
    const rows: string[][] = [csvHeader(slots)];
    for (const u of users) {
        const keys: string[] = [];
        for (let s = 1; s <= slots; s++) {
            const k = u.accessKeys.find((key) => key.slot === s);
            keys.push(
                k === undefined ? "" : k.active ? "yes" : "no",
                k?.ageDays === null || k === undefined ? "" : String(k.ageDays),
                k?.lastUsed ?? "",
                k?.lastUsedService ?? "",
            );
        }
        rows.push([
            u.name ?? "",
            u.arn,
            u.path ?? "",
            u.createDate ?? "",
            u.groups.map((g) => g.name).join(JOIN),
            u.managedPolicies.map((p) => `${p.name} (${p.via.map(viaText).join(", ")})`).join(JOIN),
            u.inlinePolicies.map((p) => `${p.name} (${inlineViaText(p.via)})`).join(JOIN),
            (report.adminRights.get(u.arn) ?? []).join(JOIN),
            yesNo(u.mfaActive),
            yesNo(u.passwordEnabled),
            passwordLastUsedText(u, iso),
            ...keys,
            u.lastAudited,
            "",
        ]);
    }
    return rows.map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

/** The header's counts, for the command's summary line. */
export function accessReviewCounts(report: AccessReviewReport): AccessReviewCounts {
    return countsOf(report);
}
