/**
 * The audit's HTML report: one self-contained page per run, rendered with mustache.
 *
 * - Self-contained: CSS inline in one <style>, no script, no external reference of any kind (no CDN, font,
 *   image or link off the page); a Content-Security-Policy meta tag forbids every fetch besides, so a browser
 *   that opens the file makes no network request.
 * - Every value from the result is escaped: the template uses `{{ }}` only (never `{{{ }}}` or `{{& }}`),
 *   and no value is ever put in a URL attribute (links inside the page use ids made from indices).
 * - Layout: the verdict (exit code), the run's times, the totals, a red/amber/green summary per target ×
 *   check (ragOf; a target that could not be audited is red in every check it asked for, with why), then
 *   the details per target and check: failures (most severe first), then errors, then passes collapsed in
 *   <details>. Readable without script; colours carry a text label too, so it prints in black and white.
 *
 * The template is a TypeScript constant rather than a file beside this one, so it ships inside the compiled
 * module and is found at run time alike from ts-node and from compiled code.
 */
import Mustache from "mustache";
import {
    CHECK_IDS,
    SEVERITIES,
    exitCodeOf,
    ragOf,
    type AuditResult,
    type Finding,
    type Rag,
    type Severity,
    type TargetOutcome,
} from "../findings";

/** What people read for each check id (the id itself is shown too). */
export const CHECK_LABELS: Readonly<Record<string, string>> = {
    "group-policies": "Group policies",
    "config-rules": "Config rules",
    "root-and-users": "Root and users",
    "public-buckets": "Public buckets",
    "unmanaged-instances": "Unmanaged instances",
    "cloudtrail-activity": "CloudTrail activity",
};

const RAG_LABELS: Readonly<Record<Rag, string>> = { red: "Red", amber: "Amber", green: "Green" };
const SEVERITY_LABELS: Readonly<Record<Severity, string>> = {
    informational: "Informational",
    low: "Low",
    medium: "Medium",
    high: "High",
    critical: "Critical",
};

const STYLE = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: #1b1b1b; background: #fff; margin: 1.5rem auto; max-width: 75rem; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; border-bottom: 2px solid #ddd; padding-bottom: .2rem; }
h3 { font-size: 1.1rem; margin: 1.5rem 0 .25rem; }
h4 { font-size: 1rem; margin: 1rem 0 .25rem; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace; font-size: .85rem; }
code { overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f6f6; border: 1px solid #e2e2e2; padding: .4rem .6rem; margin: .3rem 0 0; }
a { color: inherit; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid #c8c8c8; padding: .35rem .6rem; text-align: left; vertical-align: top; }
thead th { background: #f0f0f0; }
.run { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; margin: .5rem 0; }
.run dt { font-weight: 600; }
.run dd { margin: 0; }
.verdict { display: inline-block; font-weight: 700; padding: .3rem .7rem; border-radius: .25rem; margin: .4rem 0; }
.rag, .badge, .verdict { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.rag-red { background: #c62828; color: #fff; }
.rag-amber { background: #f9a825; color: #1b1b1b; }
.rag-green { background: #2e7d32; color: #fff; }
.rag-none { background: #eeeeee; color: #555; }
td.rag { min-width: 8rem; }
td.rag a { text-decoration: none; font-weight: 700; display: block; }
td.rag .counts { display: block; font-size: .8rem; }
.summary th[scope=row] { min-width: 12rem; }
.acct { display: block; font-size: .8rem; color: #555; font-weight: 400; }
.why { display: block; color: #b71c1c; font-weight: 600; font-size: .85rem; overflow-wrap: anywhere; }
p.why { font-size: .95rem; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: .2rem; font-size: .8rem; font-weight: 700; margin-right: .35rem; }
.legend { font-size: .85rem; color: #444; }
.target { border-top: 1px solid #ccc; margin-top: 1.5rem; }
.check { margin-left: .5rem; }
ol.findings { list-style: none; margin: .25rem 0 .75rem; padding: 0; }
li.finding { border: 1px solid #ddd; border-left-width: 6px; padding: .4rem .6rem; margin: .35rem 0; break-inside: avoid; }
li.finding.fail { border-left-color: #c62828; }
li.finding.error { border-left-color: #6a1b9a; }
li.finding.pass { border-left-color: #2e7d32; }
.ftitle { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
.fmeta { margin: .15rem 0 0; font-size: .85rem; color: #333; }
.status { display: inline-block; font-size: .75rem; font-weight: 700; text-transform: uppercase; border: 1px solid currentColor; padding: 0 .3rem; margin-right: .35rem; }
.sev { display: inline-block; font-size: .75rem; font-weight: 700; margin-right: .35rem; }
.sev.sev-critical, .sev.sev-high { color: #b71c1c; }
.sev.sev-medium { color: #8a5a00; }
.sev.sev-low, .sev.sev-informational { color: #37474f; }
details { margin: .35rem 0; }
summary { cursor: pointer; font-weight: 600; }
.none { color: #555; font-style: italic; }
.totals td.num { text-align: right; font-variant-numeric: tabular-nums; }
@page { margin: 1.5cm; }
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 11pt; }
  a { text-decoration: none; }
  #totals { break-after: page; }
  .target { break-before: auto; }
  h2, h3, h4 { break-after: avoid; }
  pre { max-height: none; }
  /* Passes are collapsed on screen; on paper they print open (where the browser supports ::details-content). */
  details::details-content { content-visibility: visible; display: block; }
}
`;

/** The one partial (a finding); exported, like the template, for the escaped-tags test. */
export const FINDING_PARTIAL = `<li class="finding {{status}} sev-{{severity}}" id="{{anchor}}" data-finding="{{index}}">
<p class="ftitle"><span class="status">{{status}}</span> <span class="sev sev-{{severity}}">{{severityLabel}}</span> <span class="title">{{title}}</span></p>
<p class="fmeta">Resource <code>{{resource}}</code> · region <code>{{region}}</code>{{#accountId}} · account <code>{{accountId}}</code>{{/accountId}}</p>
{{#hasEvidence}}<pre class="evidence">{{evidence}}</pre>{{/hasEvidence}}
</li>
`;

/**
 * The page; exported so that a test can check it uses escaped tags only. The CSS is part of the template
 * (not a value: mustache would escape its quotes, and a <style> element does not decode entities).
 */
export const HTML_TEMPLATE = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Airlock audit, {{finishedAt}}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>Airlock audit</h1>
<p class="verdict rag-{{verdict.rag}}" id="verdict" data-exit-code="{{verdict.exitCode}}">{{verdict.text}} (exit code {{verdict.exitCode}})</p>
<dl class="run" id="times">
<dt>Started</dt><dd><time datetime="{{startedAt}}">{{startedAt}}</time></dd>
<dt>Finished</dt><dd><time datetime="{{finishedAt}}">{{finishedAt}}</time></dd>
<dt>Duration</dt><dd>{{duration}}</dd>
</dl>
</header>
<main>
<section id="summary">
<h2>Summary</h2>
<table class="summary">
<thead><tr><th scope="col">Target</th>{{#checks}}<th scope="col" data-check="{{id}}">{{label}}</th>{{/checks}}</tr></thead>
<tbody>
{{#targets}}<tr data-target="{{index}}">
<th scope="row"><a href="#{{anchor}}">{{target}}</a>{{#accountId}} <span class="acct">account {{accountId}}</span>{{/accountId}}{{#unaudited}} <span class="why">Not audited: {{reason}}</span>{{/unaudited}}</th>
{{#cells}}<td class="rag rag-{{rag}}" data-check="{{check}}" data-rag="{{rag}}">{{#requested}}<a href="#{{anchor}}">{{label}}</a> <span class="counts">{{counts}}</span>{{/requested}}{{^requested}}<span class="counts">not requested</span>{{/requested}}</td>
{{/cells}}</tr>
{{/targets}}</tbody>
</table>
<p class="legend">Red: a high or critical failure, a check that could not run, or a target that could not be audited. Amber: failures of medium severity or less. Green: checked, nothing failed. Grey: the target did not ask for this check.</p>
</section>
<section id="totals">
<h2>Totals</h2>
<table class="totals">
<tbody>
<tr><th scope="row">Targets</th><td class="num" data-total="targets">{{totals.targets}}</td><td>{{totals.audited}} audited, {{totals.unaudited}} not audited</td></tr>
<tr><th scope="row">Target × check results</th><td class="num" data-total="cells">{{totals.cells}}</td><td>{{totals.red}} red, {{totals.amber}} amber, {{totals.green}} green</td></tr>
<tr><th scope="row">Failures</th><td class="num" data-total="fail">{{totals.fail}}</td><td>{{#totals.bySeverity}}{{count}} {{label}}{{^last}}, {{/last}}{{/totals.bySeverity}}</td></tr>
<tr><th scope="row">Errors (not checked)</th><td class="num" data-total="error">{{totals.error}}</td><td></td></tr>
<tr><th scope="row">Passes</th><td class="num" data-total="pass">{{totals.pass}}</td><td></td></tr>
</tbody>
</table>
</section>
<section id="details">
<h2>Details</h2>
{{#targets}}<section class="target" id="{{anchor}}" data-target="{{index}}">
<h3>{{target}}{{#accountId}} <span class="acct">account {{accountId}}</span>{{/accountId}}</h3>
{{#unaudited}}<p class="why">Not audited: {{reason}}</p>{{/unaudited}}
<p class="fmeta">Regions: {{#regions}}<code>{{.}}</code> {{/regions}}{{^regions}}<span class="none">none given</span>{{/regions}}</p>
{{#detailChecks}}<section class="check" id="{{anchor}}" data-check="{{check}}">
<h4><span class="badge rag-{{rag}}">{{ragLabel}}</span>{{label}} <code>{{check}}</code></h4>
{{#unaudited}}<p class="none">Not run: the target could not be audited.</p>{{/unaudited}}
{{#hasFailures}}<ol class="findings failures">
{{#failures}}{{> finding}}{{/failures}}</ol>
{{/hasFailures}}{{#hasErrors}}<ol class="findings errors">
{{#errors}}{{> finding}}{{/errors}}</ol>
{{/hasErrors}}{{#hasPasses}}<details class="passes"><summary>{{passCount}} passed</summary>
<ol class="findings passes">
{{#passes}}{{> finding}}{{/passes}}</ol>
</details>
{{/hasPasses}}{{#empty}}<p class="none">No findings.</p>{{/empty}}
</section>
{{/detailChecks}}</section>
{{/targets}}</section>
</main>
<footer><p class="legend">Airlock audit report, schema version {{schemaVersion}}.</p></footer>
</body>
</html>
`;

interface FindingView {
    readonly index: number;
    readonly anchor: string;
    readonly status: string;
    readonly severity: string;
    readonly severityLabel: string;
    readonly title: string;
    readonly resource: string;
    readonly region: string;
    readonly accountId: string;
    readonly hasEvidence: boolean;
    readonly evidence: string;
}

/** Renders the result as one self-contained HTML page. */
export function renderHtml(result: AuditResult): string {
    return Mustache.render(HTML_TEMPLATE, htmlView(result), { finding: FINDING_PARTIAL });
}

/** The view the template renders: plain strings, numbers and booleans only (no functions: mustache would call them). */
function htmlView(result: AuditResult) {
    const indexed = result.findings.map((finding, index) => ({ finding, index }));

    // Targets in the result's order, then any target that only findings name (kept visible, never dropped).
    const outcomes = new Map<string, TargetOutcome | undefined>();
    for (const t of result.targets) {
        if (!outcomes.has(t.target)) outcomes.set(t.target, t);
    }
    for (const { finding } of indexed) {
        if (!outcomes.has(finding.target)) outcomes.set(finding.target, undefined);
    }

    const checksOf = (name: string, outcome: TargetOutcome | undefined): string[] =>
        orderChecks([...(outcome?.checks ?? []), ...indexed.filter((x) => x.finding.target === name).map((x) => x.finding.check)]);
    const columns = orderChecks([...outcomes].flatMap(([name, outcome]) => checksOf(name, outcome)));

    const totals = { targets: outcomes.size, audited: 0, unaudited: 0, cells: 0, red: 0, amber: 0, green: 0 };
    const targets = [...outcomes].map(([name, outcome], t) => {
        const unaudited = outcome?.state === "unaudited";
        if (unaudited) totals.unaudited++;
        else totals.audited++;
        const accountId = outcome?.accountId ?? indexed.find((x) => x.finding.target === name)?.finding.accountId ?? "";
        const own = checksOf(name, outcome);
        const detailChecks = own.map((check, k) => {
            const mine = indexed.filter((x) => x.finding.target === name && x.finding.check === check);
            const rag = ragOf(
                mine.map((x) => x.finding),
                outcome,
            );
            totals.cells++;
            totals[rag]++;
            const byStatus = (status: Finding["status"]) => mine.filter((x) => x.finding.status === status);
            const failures = sortBySeverity(byStatus("fail")).map(findingView);
            const errors = sortBySeverity(byStatus("error")).map(findingView);
            const passes = byStatus("pass").map(findingView);
            return {
                check,
                label: labelOf(check),
                anchor: `t${t}c${k}`,
                rag,
                ragLabel: RAG_LABELS[rag],
                unaudited,
                counts: countsText(failures.length, errors.length, passes.length),
                failures,
                errors,
                passes,
                hasFailures: failures.length > 0,
                hasErrors: errors.length > 0,
                hasPasses: passes.length > 0,
                passCount: passes.length,
                empty: mine.length === 0 && !unaudited,
            };
        });
        const cells = columns.map((check) => {
            const detail = detailChecks.find((c) => c.check === check);
            if (detail === undefined) {
                return { check, requested: false, rag: "none", label: "", counts: "", anchor: "" };
            }
            return {
                check,
                requested: true,
                rag: detail.rag,
                label: unaudited ? `${RAG_LABELS[detail.rag]}: not audited` : RAG_LABELS[detail.rag],
                counts: unaudited ? "" : detail.counts,
                anchor: detail.anchor,
            };
        });
        return {
            index: t,
            anchor: `t${t}`,
            target: name,
            accountId,
            unaudited,
            reason: unaudited ? outcome?.reason || "no reason given" : "",
            regions: [...(outcome?.regions ?? [])],
            cells,
            detailChecks,
        };
    });

    const count = (status: Finding["status"]) => result.findings.filter((f) => f.status === status).length;
    const severities = [...SEVERITIES].reverse();
    const bySeverity = severities.map((severity, i) => ({
        label: SEVERITY_LABELS[severity].toLowerCase(),
        count: result.findings.filter((f) => f.status === "fail" && f.severity === severity).length,
        last: i === severities.length - 1,
    }));

    const exitCode = exitCodeOf(result);
    const verdict =
        exitCode === 0
            ? { rag: "green", text: "Clean: every target audited, nothing failed" }
            : exitCode === 1
              ? { rag: "amber", text: `Findings: ${count("fail")} failed` }
              : {
                    rag: "red",
                    text: `Incomplete: ${totals.unaudited} target(s) not audited, ${count("error")} check error(s), ${count("fail")} failed`,
                };

    return {
        schemaVersion: result.schemaVersion,
        startedAt: result.startedAt,
        finishedAt: result.finishedAt,
        duration: durationText(result.startedAt, result.finishedAt),
        verdict: { ...verdict, exitCode },
        totals: { ...totals, fail: count("fail"), error: count("error"), pass: count("pass"), bySeverity },
        checks: columns.map((id) => ({ id, label: labelOf(id) })),
        targets,
    };
}

function findingView({ finding, index }: { finding: Finding; index: number }): FindingView {
    const evidence = finding.evidence ?? {};
    return {
        index,
        anchor: `f${index}`,
        status: finding.status,
        severity: finding.severity,
        severityLabel: SEVERITY_LABELS[finding.severity] ?? String(finding.severity),
        title: finding.title,
        resource: finding.resource,
        region: finding.region,
        accountId: finding.accountId ?? "",
        hasEvidence: Object.keys(evidence).length > 0,
        evidence: JSON.stringify(evidence, null, 2),
    };
}

/** Most severe first; the model's order among equals. */
function sortBySeverity<T extends { finding: Finding }>(items: T[]): T[] {
    const rank = (s: Severity) => SEVERITIES.indexOf(s);
    return items
        .map((item, i) => ({ item, i }))
        .sort((a, b) => rank(b.item.finding.severity) - rank(a.item.finding.severity) || a.i - b.i)
        .map((x) => x.item);
}

/** CHECK_IDS' order, then any other id in first-seen order; no duplicates. */
function orderChecks(ids: readonly string[]): string[] {
    const known: readonly string[] = CHECK_IDS;
    const seen = new Set(ids);
    return [...known.filter((id) => seen.has(id)), ...[...seen].filter((id) => !known.includes(id))];
}

function labelOf(check: string): string {
    return CHECK_LABELS[check] ?? check;
}

function countsText(fail: number, error: number, pass: number): string {
    if (fail + error + pass === 0) return "no findings";
    return [fail ? `${fail} failed` : "", error ? `${error} error${error === 1 ? "" : "s"}` : "", pass ? `${pass} passed` : ""]
        .filter((s) => s !== "")
        .join(", ");
}

function durationText(startedAt: string, finishedAt: string): string {
    const ms = Date.parse(finishedAt) - Date.parse(startedAt);
    if (!Number.isFinite(ms) || ms < 0) return "unknown";
    const s = Math.round(ms / 1000);
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
