/**
 * The audit's reports (audit/report/): HTML, JSON and OCSF rendered from one realistic result — two targets,
 * one that could not be audited; failures, errors and passes across checks; hostile values from the account
 * (a title with a script element, quotes, "</style>", mustache braces, a resource named "javascript:…").
 *
 * The HTML is parsed with parse5 (the WHATWG parsing algorithm browsers use), so what is asserted is what a
 * browser builds, not what a regular expression sees. The JSON is validated with Ajv against
 * audit/report/schema.json. The OCSF events are checked field by field against OCSF 1.3.0's Compliance
 * Finding (required attributes and the enum values used).
 */
import Ajv2020 from "ajv/dist/2020";
import { parse } from "parse5";
import { CHECK_IDS, SEVERITIES, exitCodeOf, type AuditResult, type Finding, type TargetOutcome } from "../audit/findings";
import { FINDING_PARTIAL, HTML_TEMPLATE, renderHtml } from "../audit/report/html";
import { renderJson } from "../audit/report/json";
import { findingUid, renderOcsf, toOcsf, type OcsfComplianceFinding } from "../audit/report/ocsf";
import schema from "../audit/report/schema.json";

// ---------------------------------------------------------------------------------------------------------------
// The result
// ---------------------------------------------------------------------------------------------------------------

const PROD = "111111111111";
const LEGACY = "222222222222";
const HOSTILE_TITLE = `<script>alert("x")</script> it's "quoted" </style> {{x}} {{{y}}} & done`;
const HOSTILE_RESOURCE = "javascript:alert(document.domain)//";
const HOSTILE_REASON = `AccessDenied: not authorized to perform sts:AssumeRole on <img src=x onerror=alert(1)> "role"`;

const findings: Finding[] = [
    {
        target: "prod",
        accountId: PROD,
        region: "global",
        check: "group-policies",
        resource: `arn:aws:iam::${PROD}:policy/User_Source_IP_Restrictions`,
        status: "pass",
        severity: "high",
        title: "Policy User_Source_IP_Restrictions equals the reference (statements reordered)",
        evidence: { defaultVersion: "v3" },
    },
    {
        target: "prod",
        accountId: PROD,
        region: "global",
        check: "group-policies",
        resource: `arn:aws:iam::${PROD}:policy/Force_MFA`,
        status: "fail",
        severity: "high",
        title: "Policy Force_MFA has drifted from the reference",
        evidence: { missingStatements: [{ Sid: "DenyAllExceptListedIfNoMFA", Effect: "Deny" }], defaultVersion: "v2" },
    },
    {
        target: "prod",
        accountId: PROD,
        region: "global",
        check: "root-and-users",
        resource: `arn:aws:iam::${PROD}:root`,
        status: "pass",
        severity: "critical",
        title: "Root has MFA and no access keys",
        evidence: {},
    },
    {
        target: "prod",
        accountId: PROD,
        region: "global",
        check: "root-and-users",
        resource: `arn:aws:iam::${PROD}:user/ops/bob`,
        status: "fail",
        severity: "low",
        title: "User bob has a password unused for 120 days",
        evidence: { passwordLastUsed: "2024-09-01T00:00:00Z", maxAgeDays: 90 },
    },
    {
        target: "prod",
        accountId: PROD,
        region: "global",
        check: "root-and-users",
        resource: `arn:aws:iam::${PROD}:user/carol`,
        status: "fail",
        severity: "medium",
        title: "User carol has an access key unused for 200 days",
        evidence: { accessKeyLastUsed: "2024-06-01T00:00:00Z", maxAgeDays: 90 },
    },
    {
        target: "prod",
        accountId: PROD,
        region: "us-east-1",
        check: "config-rules",
        resource: `arn:aws:config:us-east-1:${PROD}:config-rule/config-rule-abc123`,
        status: "pass",
        severity: "medium",
        title: "Config rule MFA_ENABLED_FOR_IAM_CONSOLE_ACCESS is present and every resource complies",
        evidence: { sourceIdentifier: "MFA_ENABLED_FOR_IAM_CONSOLE_ACCESS" },
    },
    {
        target: "prod",
        accountId: PROD,
        region: "eu-west-1",
        check: "config-rules",
        resource: "MFA_ENABLED_FOR_IAM_CONSOLE_ACCESS",
        status: "error",
        severity: "medium",
        title: "Config rules could not be listed: throttled past 8 retries",
        evidence: { error: "ThrottlingException", attempts: 8 },
    },
    {
        target: "prod",
        accountId: PROD,
        region: "eu-west-1",
        check: "public-buckets",
        resource: "airlock-evidence-eu",
        status: "pass",
        severity: "high",
        title: "Bucket airlock-evidence-eu is not public",
        evidence: { blockPublicAcls: true },
    },
    {
        target: "prod",
        accountId: PROD,
        region: "eu-west-1",
        check: "public-buckets",
        resource: HOSTILE_RESOURCE,
        status: "pass",
        severity: "high",
        title: HOSTILE_TITLE,
        evidence: { "</style><script>alert(2)</script>": "{{#x}}{{/x}}", z: 1, a: [3, 1, 2] },
    },
];

const result: AuditResult = {
    schemaVersion: 1,
    startedAt: "2025-01-31T09:30:00.000Z",
    finishedAt: "2025-01-31T09:32:05.500Z",
    targets: [
        {
            target: "prod",
            accountId: PROD,
            state: "audited",
            checks: ["group-policies", "config-rules", "root-and-users", "public-buckets"],
            regions: ["us-east-1", "eu-west-1"],
        },
        {
            target: "legacy",
            accountId: LEGACY,
            state: "unaudited",
            reason: HOSTILE_REASON,
            checks: [...CHECK_IDS],
            regions: ["eu-west-1"],
        },
    ],
    findings,
};

// ---------------------------------------------------------------------------------------------------------------
// parse5 helpers (default tree adapter)
// ---------------------------------------------------------------------------------------------------------------

interface Node {
    nodeName: string;
    tagName?: string;
    attrs?: { name: string; value: string }[];
    childNodes?: Node[];
    content?: Node;
    value?: string;
    parentNode?: Node | null;
}

function all(root: Node): Node[] {
    const out: Node[] = [];
    const walk = (n: Node) => {
        out.push(n);
        for (const c of n.childNodes ?? []) walk(c);
        if (n.content) walk(n.content);
    };
    walk(root);
    return out;
}
const elements = (root: Node) => all(root).filter((n) => n.tagName !== undefined);
const attr = (n: Node, name: string) => n.attrs?.find((a) => a.name === name)?.value;
const hasClass = (n: Node, c: string) => (attr(n, "class") ?? "").split(/\s+/).includes(c);
const text = (n: Node): string =>
    all(n)
        .filter((x) => x.nodeName === "#text")
        .map((x) => x.value ?? "")
        .join("");
const squash = (s: string) => s.replace(/\s+/g, " ").trim();
function byId(root: Node, id: string): Node {
    const found = elements(root).filter((n) => attr(n, "id") === id);
    expect(found).toHaveLength(1);
    return found[0]!;
}
function ancestors(n: Node): Node[] {
    const out: Node[] = [];
    for (let p = n.parentNode; p; p = p.parentNode) out.push(p);
    return out;
}

// ---------------------------------------------------------------------------------------------------------------
// HTML
// ---------------------------------------------------------------------------------------------------------------

describe("HTML report", () => {
    const html = renderHtml(result);
    const doc = parse(html) as unknown as Node;
    const els = elements(doc);

    test("the template only uses escaping tags", () => {
        for (const template of [HTML_TEMPLATE, FINDING_PARTIAL]) {
            expect(template).not.toContain("{{{");
            expect(template).not.toMatch(/\{\{\s*&/);
            expect(template).not.toMatch(/\{\{\s*=/); // no change of delimiters either
        }
    });

    test("is self-contained: no script, no event handler, no external reference, no way to fetch", () => {
        const tags = new Set(els.map((n) => n.tagName));
        for (const banned of ["script", "link", "img", "iframe", "object", "embed", "base", "form", "svg", "video", "audio", "source"]) {
            expect(tags.has(banned)).toBe(false);
        }
        for (const n of els) {
            for (const a of n.attrs ?? []) {
                expect(a.name.startsWith("on")).toBe(false);
                expect(a.value).not.toMatch(/http|\/\//i);
                expect(a.value.toLowerCase()).not.toContain("javascript:");
                if (a.name === "href") expect(a.value).toMatch(/^#[a-z0-9-]+$/);
                expect(["src", "srcset", "action", "formaction", "background", "poster", "data"]).not.toContain(a.name);
            }
        }
        const styles = els.filter((n) => n.tagName === "style");
        expect(styles).toHaveLength(1);
        const css = text(styles[0]!);
        expect(css).not.toMatch(/url\(|@import|http|\/\/|expression\(/i);
        // Nothing after the style element's end leaked out of it (a value's "</style>" would end it early).
        expect(css).toContain("@media print");
        const csp = els.find((n) => n.tagName === "meta" && attr(n, "http-equiv") === "Content-Security-Policy");
        expect(attr(csp!, "content")).toContain("default-src 'none'");
    });

    test("the summary has one red/amber/green cell per target × check", () => {
        const summary = els.find((n) => n.tagName === "table" && hasClass(n, "summary"))!;
        const heads = elements(summary).filter((n) => n.tagName === "th" && attr(n, "scope") === "col");
        expect(heads.map((n) => squash(text(n)))).toEqual([
            "Target",
            "Group policies",
            "Config rules",
            "Root and users",
            "Public buckets",
            "Unmanaged instances",
            "CloudTrail activity",
        ]);
        const rows = elements(summary).filter((n) => n.tagName === "tr" && attr(n, "data-target") !== undefined);
        expect(rows).toHaveLength(2);
        const cells = (row: Node) =>
            Object.fromEntries(
                elements(row)
                    .filter((n) => n.tagName === "td")
                    .map((td) => [attr(td, "data-check"), { rag: attr(td, "data-rag"), cls: attr(td, "class"), text: squash(text(td)) }]),
            );

        const prod = cells(rows[0]!);
        expect(squash(text(elements(rows[0]!).find((n) => n.tagName === "th")!))).toBe(`prod account ${PROD}`);
        expect(prod["group-policies"]).toEqual({ rag: "red", cls: "rag rag-red", text: "Red 1 failed, 1 passed" });
        expect(prod["config-rules"]).toEqual({ rag: "red", cls: "rag rag-red", text: "Red 1 error, 1 passed" });
        expect(prod["root-and-users"]).toEqual({ rag: "amber", cls: "rag rag-amber", text: "Amber 2 failed, 1 passed" });
        expect(prod["public-buckets"]).toEqual({ rag: "green", cls: "rag rag-green", text: "Green 2 passed" });
        expect(prod["unmanaged-instances"]).toEqual({ rag: "none", cls: "rag rag-none", text: "not requested" });

        const legacy = cells(rows[1]!);
        for (const check of CHECK_IDS) {
            expect(legacy[check]).toEqual({ rag: "red", cls: "rag rag-red", text: "Red: not audited" });
        }
        expect(squash(text(elements(rows[1]!).find((n) => n.tagName === "th")!))).toBe(
            `legacy account ${LEGACY} Not audited: ${HOSTILE_REASON}`,
        );

        // The colours are the CSS's, and each cell links to its details.
        const css = text(els.find((n) => n.tagName === "style")!);
        expect(css).toMatch(/\.rag-red \{ background: #c62828;/);
        expect(css).toMatch(/\.rag-amber \{ background: #f9a825;/);
        expect(css).toMatch(/\.rag-green \{ background: #2e7d32;/);
        for (const a of elements(summary).filter((n) => n.tagName === "a")) {
            byId(doc, attr(a, "href")!.slice(1));
        }
    });

    test("every finding is in the details, under its target and check, failures then errors then passes", () => {
        findings.forEach((f, i) => {
            const li = byId(doc, `f${i}`);
            const t = squash(text(li));
            expect(t).toContain(squash(f.title));
            expect(t).toContain(f.resource);
            expect(t).toContain(f.region);
            expect(attr(li, "class")).toBe(`finding ${f.status} sev-${f.severity}`);
            const section = ancestors(li).find((n) => n.tagName === "section" && hasClass(n, "check"))!;
            expect(attr(section, "data-check")).toBe(f.check);
            const target = ancestors(li).find((n) => n.tagName === "section" && hasClass(n, "target"))!;
            expect(squash(text(target.childNodes!.find((n) => n.tagName === "h3")!))).toContain(f.target);
            // Passes are collapsed; failures and errors are not.
            const collapsed = ancestors(li).some((n) => n.tagName === "details");
            expect(collapsed).toBe(f.status === "pass");
            if (Object.keys(f.evidence).length > 0) {
                expect(JSON.parse(text(elements(li).find((n) => n.tagName === "pre")!))).toEqual(f.evidence);
            }
        });

        // Within root-and-users: medium before low (most severe first); everywhere: fail, error, pass in order.
        const order = (check: string) => {
            const section = els.find((n) => n.tagName === "section" && attr(n, "data-check") === check && attr(n, "id")?.startsWith("t0"))!;
            return elements(section)
                .filter((n) => n.tagName === "li")
                .map((n) => Number(attr(n, "data-finding")));
        };
        expect(order("root-and-users")).toEqual([4, 3, 2]);
        expect(order("group-policies")).toEqual([1, 0]);
        expect(order("config-rules")).toEqual([6, 5]);
        const summaries = els.filter((n) => n.tagName === "summary").map((n) => squash(text(n)));
        expect(summaries).toEqual(["1 passed", "1 passed", "1 passed", "2 passed"]);

        // The unaudited target: its reason, and each check it asked for marked as not run.
        const legacy = byId(doc, "t1");
        expect(squash(text(legacy))).toContain(`Not audited: ${HOSTILE_REASON}`);
        const notRun = elements(legacy).filter((n) => n.tagName === "section" && hasClass(n, "check"));
        expect(notRun.map((n) => attr(n, "data-check"))).toEqual([...CHECK_IDS]);
        for (const s of notRun) expect(squash(text(s))).toContain("Not run: the target could not be audited.");
    });

    test("hostile values come out as text, escaped", () => {
        expect(html).not.toContain("<script>");
        expect(html).not.toContain("<img");
        expect(html).not.toContain(HOSTILE_TITLE);
        // The parser gives back exactly the original strings, as text.
        const li = byId(doc, `f${findings.length - 1}`);
        expect(text(elements(li).find((n) => n.tagName === "span" && hasClass(n, "title"))!)).toBe(HOSTILE_TITLE);
        expect(text(elements(li).find((n) => n.tagName === "code")!)).toBe(HOSTILE_RESOURCE);
        expect(text(elements(li).find((n) => n.tagName === "pre")!)).toContain("</style><script>alert(2)</script>");
        expect(text(elements(li).find((n) => n.tagName === "pre")!)).toContain("{{#x}}{{/x}}");
        // Mustache did not interpret braces in values.
        expect(text(doc)).toContain("{{x}} {{{y}}}");
    });

    test("shows the run's times, the verdict and the totals", () => {
        const times = byId(doc, "times");
        const pairs = (tag: string) => elements(times).filter((n) => n.tagName === tag).map((n) => squash(text(n)));
        expect(pairs("dt")).toEqual(["Started", "Finished", "Duration"]);
        expect(pairs("dd")).toEqual([result.startedAt, result.finishedAt, "2 min 6 s"]);
        expect(elements(times).filter((n) => n.tagName === "time").map((n) => attr(n, "datetime"))).toEqual([result.startedAt, result.finishedAt]);
        const verdict = byId(doc, "verdict");
        expect(attr(verdict, "data-exit-code")).toBe(String(exitCodeOf(result)));
        expect(attr(verdict, "class")).toBe("verdict rag-red");
        expect(squash(text(verdict))).toBe("Incomplete: 1 target(s) not audited, 1 check error(s), 3 failed (exit code 2)");
        const total = (name: string) => squash(text(els.find((n) => attr(n, "data-total") === name)!));
        expect(total("targets")).toBe("2");
        expect(total("cells")).toBe("10"); // prod's 4 checks, legacy's 6
        expect(total("fail")).toBe("3");
        expect(total("error")).toBe("1");
        expect(total("pass")).toBe("5");
        expect(squash(text(byId(doc, "totals")))).toContain("0 critical, 1 high, 1 medium, 1 low, 0 informational");
        expect(squash(text(byId(doc, "totals")))).toContain("1 audited, 1 not audited");
        expect(squash(text(byId(doc, "totals")))).toContain("8 red, 1 amber, 1 green");
    });

    test("a clean run is green with exit code 0", () => {
        const clean: AuditResult = { ...result, targets: [result.targets[0]!], findings: findings.filter((f) => f.status === "pass") };
        const d = parse(renderHtml(clean)) as unknown as Node;
        const v = byId(d, "verdict");
        expect(attr(v, "class")).toBe("verdict rag-green");
        expect(attr(v, "data-exit-code")).toBe("0");
    });
});

// ---------------------------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------------------------

describe("JSON report", () => {
    const ajv = new Ajv2020({ strict: true, allErrors: true, formats: { "date-time": true } });
    const validate = ajv.compile(schema);

    test("validates against schema.json and is exactly the model", () => {
        const json = renderJson(result);
        const parsed: unknown = JSON.parse(json);
        expect(validate(parsed)).toBe(true);
        expect(validate.errors ?? null).toBeNull();
        expect(parsed).toEqual(result);
        expect(json.endsWith("}\n")).toBe(true);
    });

    test("keys come in a stable order, whatever order the producer built objects in", () => {
        const shuffled: AuditResult = {
            findings: findings.map(
                (f) => Object.fromEntries(Object.entries({ ...f, evidence: Object.fromEntries(Object.entries(f.evidence).reverse()) }).reverse()) as unknown as Finding,
            ),
            targets: result.targets.map((t) => Object.fromEntries(Object.entries(t).reverse()) as unknown as TargetOutcome),
            finishedAt: result.finishedAt,
            startedAt: result.startedAt,
            schemaVersion: 1,
        };
        expect(renderJson(shuffled)).toBe(renderJson(result));
        const parsed = JSON.parse(renderJson(shuffled));
        expect(Object.keys(parsed)).toEqual(["schemaVersion", "startedAt", "finishedAt", "targets", "findings"]);
        expect(Object.keys(parsed.targets[1])).toEqual(["target", "accountId", "state", "reason", "checks", "regions"]);
        expect(Object.keys(parsed.findings[1])).toEqual(["target", "accountId", "region", "check", "resource", "status", "severity", "title", "evidence"]);
        expect(Object.keys(parsed.findings[8].evidence)).toEqual(["</style><script>alert(2)</script>", "a", "z"]);
        expect(parsed.findings[8].evidence.a).toEqual([3, 1, 2]);
    });

    test("writes no property the model does not declare, and leaves out undefined ones", () => {
        const extra = {
            ...result,
            extra: 1,
            targets: [{ ...result.targets[0]!, accountId: undefined, secret: "x" }],
            findings: [{ ...findings[0]!, accountId: undefined, note: "x" }],
        } as unknown as AuditResult;
        const parsed = JSON.parse(renderJson(extra));
        expect(validate(parsed)).toBe(true);
        expect(parsed.extra).toBeUndefined();
        expect(Object.keys(parsed.targets[0])).toEqual(["target", "state", "checks", "regions"]);
        expect(Object.keys(parsed.findings[0])).not.toContain("accountId");
    });

    test("the schema refuses what the model does not allow", () => {
        const base = JSON.parse(renderJson(result));
        const bad: [string, (r: any) => void][] = [
            ["unaudited without a reason", (r) => delete r.targets[1].reason],
            ["unknown check", (r) => (r.findings[0].check = "iam-everything")],
            ["unknown severity", (r) => (r.findings[0].severity = "severe")],
            ["unknown status", (r) => (r.findings[0].status = "warn")],
            ["extra property", (r) => (r.findings[0].extra = true)],
            ["missing evidence", (r) => delete r.findings[0].evidence],
            ["short account id", (r) => (r.targets[0].accountId = "1234")],
            ["local time", (r) => (r.startedAt = "2025-01-31 09:30")],
            ["another schema version", (r) => (r.schemaVersion = 2)],
        ];
        for (const [what, change] of bad) {
            const copy = structuredClone(base);
            change(copy);
            expect([what, validate(copy)]).toEqual([what, false]);
        }
    });

    test("the schema's enums are the model's, and every field is described", () => {
        expect(schema.$defs.check.enum).toEqual([...CHECK_IDS]);
        expect(schema.$defs.finding.properties.severity.enum).toEqual([...SEVERITIES]);
        expect(schema.$defs.finding.properties.status.enum).toEqual(["pass", "fail", "error"]);
        const undescribed: string[] = [];
        const visit = (node: any, path: string) => {
            for (const [name, sub] of Object.entries<any>(node.properties ?? {})) {
                if (typeof sub.description !== "string" || sub.description.length < 10) undescribed.push(`${path}.${name}`);
                visit(sub, `${path}.${name}`);
            }
            if (node.items) visit(node.items, `${path}[]`);
        };
        visit(schema, "");
        for (const [name, def] of Object.entries<any>(schema.$defs)) visit(def, `$defs.${name}`);
        expect(undescribed).toEqual([]);
    });
});

// ---------------------------------------------------------------------------------------------------------------
// OCSF
// ---------------------------------------------------------------------------------------------------------------

describe("OCSF report", () => {
    const events = JSON.parse(renderOcsf(result)) as OcsfComplianceFinding[];

    test("one Compliance Finding per finding, and one per check of the unaudited target", () => {
        expect(events).toHaveLength(findings.length + CHECK_IDS.length);
        for (const e of events) {
            // OCSF 1.3.0 required attributes of Compliance Finding (base event, finding, compliance, metadata, product).
            expect(e.class_uid).toBe(2003);
            expect(e.class_name).toBe("Compliance Finding");
            expect(e.category_uid).toBe(2);
            expect(e.activity_id).toBe(1);
            expect(e.type_uid).toBe(e.class_uid * 100 + e.activity_id);
            expect(e.time).toBe(Date.parse(result.finishedAt));
            expect(Number.isInteger(e.time)).toBe(true);
            expect([1, 2, 3, 4, 5]).toContain(e.severity_id);
            expect(e.status_id).toBe(1);
            expect(e.metadata.version).toBe("1.3.0");
            expect(e.metadata.product).toEqual({ name: "Airlock", vendor_name: "Airlock" });
            expect(e.cloud.provider).toBe("AWS");
            expect(e.finding_info.uid).toMatch(/^airlock:[0-9a-f]{64}$/);
            expect(e.finding_info.title.length).toBeGreaterThan(0);
            expect(e.finding_info.desc.length).toBeGreaterThan(0);
            expect(e.compliance.standards.length).toBeGreaterThan(0);
            expect([1, 3, 99]).toContain(e.compliance.status_id);
            expect(e.resources.length).toBe(1);
            expect(e.resources[0]!.uid.length).toBeGreaterThan(0);
        }
        expect(new Set(events.map((e) => e.finding_info.uid)).size).toBe(events.length);
    });

    test("maps severity, compliance status, account, region and resource", () => {
        const severityIds = { informational: 1, low: 2, medium: 3, high: 4, critical: 5 } as const;
        const statuses = { pass: [1, "Pass"], fail: [3, "Fail"], error: [99, "Error"] } as const;
        findings.forEach((f, i) => {
            const e = events[i]!;
            expect(e.severity_id).toBe(severityIds[f.severity]);
            expect(e.severity.toLowerCase()).toBe(f.severity);
            expect([e.compliance.status_id, e.compliance.status]).toEqual(statuses[f.status]);
            expect(e.compliance.status_code).toBe(f.status);
            expect(e.compliance.control).toBe(f.check);
            expect(e.finding_info.title).toBe(f.title);
            expect(e.message).toBe(f.title);
            expect(e.finding_info.uid).toBe(findingUid(f));
            expect(e.cloud.account).toEqual({ uid: PROD, type: "AWS Account", type_id: 10 });
            expect(e.cloud.region).toBe(f.region === "global" ? undefined : f.region);
            expect(e.resources[0]!.uid).toBe(f.resource);
            expect(e.resources[0]!.region).toBe(f.region === "global" ? undefined : f.region);
            expect(e.unmapped.airlock).toEqual({ target: f.target, check: f.check, region: f.region, status: f.status, evidence: f.evidence });
        });
        expect(events[1]!.resources[0]).toEqual({
            uid: `arn:aws:iam::${PROD}:policy/Force_MFA`,
            name: "Force_MFA",
            type: "AWS::IAM::Policy",
            cloud_partition: "aws",
        });
        expect(events[3]!.resources[0]).toMatchObject({ name: "bob", type: "AWS::IAM::User" });
        expect(events[2]!.resources[0]).toMatchObject({ name: "root", type: "AWS::Account" });
        expect(events[5]!.resources[0]).toMatchObject({ type: "AWS::Config::ConfigRule", region: "us-east-1" });
        expect(events[7]!.resources[0]).toEqual({ uid: "airlock-evidence-eu", name: "airlock-evidence-eu", type: "AWS::S3::Bucket", region: "eu-west-1" });
    });

    test("an unaudited target appears as errors, never as silence or a pass", () => {
        const gaps = events.slice(findings.length);
        expect(gaps.map((e) => e.compliance.control)).toEqual([...CHECK_IDS]);
        for (const e of gaps) {
            expect(e.compliance).toMatchObject({ status_id: 99, status: "Error", status_code: "error", status_detail: HOSTILE_REASON });
            expect(e.severity_id).toBe(4);
            expect(e.finding_info.title).toBe("Target legacy could not be audited");
            expect(e.cloud.account?.uid).toBe(LEGACY);
            expect(e.resources[0]).toMatchObject({ uid: LEGACY, type: "AWS::Account" });
        }
    });

    test("finding uids are stable across runs and change with what identifies the finding", () => {
        const later: AuditResult = {
            ...result,
            startedAt: "2025-02-01T09:30:00.000Z",
            finishedAt: "2025-02-01T09:31:00.000Z",
            findings: findings.map((f) => ({ ...f, status: "pass", evidence: { changed: true } })),
        };
        expect(toOcsf(later).map((e) => e.finding_info.uid)).toEqual(events.map((e) => e.finding_info.uid));
        const f = findings[1]!;
        const base = findingUid(f);
        for (const change of [{ target: "other" }, { region: "eu-west-1" }, { check: "config-rules" as const }, { resource: "x" }, { title: "y" }]) {
            expect(findingUid({ ...f, ...change })).not.toBe(base);
        }
        // Field boundaries count: moving characters between fields gives another uid.
        expect(findingUid({ ...f, target: "ab", region: "c" })).not.toBe(findingUid({ ...f, target: "a", region: "bc" }));
    });

    test("NDJSON on request: one compact event per line; the product version when given", () => {
        const nd = renderOcsf(result, { ndjson: true, productVersion: "0.1.0" });
        const lines = nd.split("\n");
        expect(lines.pop()).toBe("");
        expect(lines).toHaveLength(events.length);
        const parsed = lines.map((l) => JSON.parse(l) as OcsfComplianceFinding);
        expect(parsed.map((e) => e.finding_info.uid)).toEqual(events.map((e) => e.finding_info.uid));
        expect(parsed[0]!.metadata.product).toEqual({ name: "Airlock", vendor_name: "Airlock", version: "0.1.0" });
    });

    test("refuses a result whose finish time is not a date", () => {
        expect(() => renderOcsf({ ...result, finishedAt: "yesterday" })).toThrow(/finishedAt "yesterday" is not a date/);
    });
});
