/**
 * audit/policyEquivalence.ts: what does and does not make two IAM policy documents different, on
 * the documents the guardrails stack deploys (policies/groupPolicies.ts) and on small ones.
 */
import { PolicyDocumentError, canonicalCidr, normalizePolicy, policiesEqual, policyDifference } from "../audit/policyEquivalence";
import { configWritePolicy, forceMfaPolicy, sourceIpRestrictionPolicy } from "../policies/groupPolicies";

const AWS = { partition: "aws", dnsSuffix: "amazonaws.com" };
const ACCOUNT = "123456789012";

type Doc = { Version?: string; Statement: Record<string, unknown>[] };
const clone = (d: unknown): Doc => JSON.parse(JSON.stringify(d)) as Doc;
const list = (v: unknown): unknown[] => (Array.isArray(v) ? [...(v as unknown[])] : [v]);

/**
 * Force_MFA as a person or a tool might have stored it with the same meaning: statements reversed,
 * Sids dropped or renamed, action lists reversed and re-cased, one-element lists as strings and
 * strings as lists, condition operators and keys reordered and keys re-cased, ignored user names
 * re-cased (StringNotEqualsIgnoreCase), Bool's value as JSON true/"False".
 */
function reorderedForceMfa(ignoredUsers: string[] = ["SecurityReader", "ci-bot"]): Doc {
    const d = clone(forceMfaPolicy({ ...AWS, ignoredUsers }));
    d.Statement.reverse();
    d.Statement.forEach((s, i) => {
        if (i % 2 === 0) delete s["Sid"];
        else s["Sid"] = `Renamed${i}`;
        for (const key of ["Action", "NotAction", "Resource", "NotResource"]) {
            if (s[key] === undefined) continue;
            const values = list(s[key]).reverse();
            const recased = key.endsWith("Action") ? values.map((a) => (a as string).toUpperCase()) : values;
            s[key] = recased.length === 1 ? [recased[0]] : recased;
        }
        const condition = s["Condition"] as Record<string, Record<string, unknown>> | undefined;
        if (condition !== undefined) {
            const reordered: Record<string, Record<string, unknown>> = {};
            for (const op of Object.keys(condition).reverse()) {
                const block: Record<string, unknown> = {};
                for (const [k, v] of Object.entries(condition[op]!).reverse()) {
                    const upperKey = k.replace("aws:", "AWS:");
                    block[upperKey] = op === "StringNotEqualsIgnoreCase" ? list(v).map((u) => (u as string).toUpperCase()).reverse() : op === "Null" ? [v] : v;
                }
                reordered[op] = block;
            }
            s["Condition"] = reordered;
        }
    });
    return d;
}

describe("policiesEqual / policyDifference on Force_MFA", () => {
    const reference = forceMfaPolicy({ ...AWS, ignoredUsers: ["SecurityReader", "ci-bot"] });

    it("a document equals itself, and its JSON text", () => {
        expect(policiesEqual(reference, reference)).toBe(true);
        expect(policiesEqual(reference, JSON.stringify(reference))).toBe(true);
        expect(policyDifference(reference, reference)).toEqual({ missing: [], extra: [] });
    });

    it("a reordered, re-cased, Sid-less Force_MFA with single strings for lists is equal", () => {
        const reordered = reorderedForceMfa();
        expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(reference)); // really rewritten
        expect(reordered.Statement[0]!["Sid"]).toBeUndefined();
        expect(policiesEqual(reference, reordered)).toBe(true);
        expect(policyDifference(reference, reordered)).toEqual({ missing: [], extra: [] });
    });

    it("a drifted Force_MFA (sts:GetSessionToken no longer exempted) differs by exactly that statement", () => {
        const drifted = clone(reference);
        const deny = drifted.Statement.find((s) => s["Sid"] === "DenyAllExceptMfaEnrolmentWithoutMfa")!;
        deny["NotAction"] = list(deny["NotAction"]).filter((a) => a !== "sts:GetSessionToken");
        expect(policiesEqual(reference, drifted)).toBe(false);
        const d = policyDifference(reference, drifted);
        expect(d.version).toBeUndefined();
        expect(d.missing).toHaveLength(1);
        expect(d.extra).toHaveLength(1);
        expect(d.missing[0]!.NotAction).toContain("sts:getsessiontoken");
        expect(d.extra[0]!.NotAction).not.toContain("sts:getsessiontoken");
        expect(d.extra[0]!.Effect).toBe("Deny");
        expect(d.extra[0]!["Sid"]).toBeUndefined(); // canonical statements carry no Sid
    });

    it("Force_MFA built for other ignored users is a different document", () => {
        expect(policiesEqual(reference, forceMfaPolicy({ ...AWS, ignoredUsers: ["SecurityReader"] }))).toBe(false);
        expect(policiesEqual(reference, forceMfaPolicy({ ...AWS }))).toBe(false);
        // ...but the order and case of the ignored names do not matter (StringNotEqualsIgnoreCase).
        expect(policiesEqual(reference, forceMfaPolicy({ ...AWS, ignoredUsers: ["CI-BOT", "securityreader"] }))).toBe(true);
    });

    it("allowing password changes without MFA is a difference (missing statements and a changed Deny)", () => {
        const d = policyDifference(reference, forceMfaPolicy({ ...AWS, ignoredUsers: ["SecurityReader", "ci-bot"], allowPasswordChangeWithoutMfa: true }));
        expect(d.missing).toHaveLength(1);
        expect(d.extra.map((s) => s.Action ?? s.NotAction)).toEqual(
            expect.arrayContaining([["iam:changepassword"], ["iam:getaccountpasswordpolicy"]]),
        );
        expect(d.extra).toHaveLength(3);
    });

    it("an extra statement is a difference, reported as extra only", () => {
        const more = clone(reference);
        more.Statement.push({ Effect: "Allow", Action: "s3:*", Resource: "*" });
        const d = policyDifference(reference, more);
        expect(d.missing).toEqual([]);
        expect(d.extra).toEqual([{ Effect: "Allow", Action: ["s3:*"], Resource: ["*"] }]);
        expect(policiesEqual(reference, more)).toBe(false);
    });

    it("a missing statement is a difference, reported as missing only", () => {
        const fewer = clone(reference);
        fewer.Statement = fewer.Statement.filter((s) => s["Sid"] !== "DenyMfaEnrolmentWithLongTermKeys");
        const d = policyDifference(reference, fewer);
        expect(d.extra).toEqual([]);
        expect(d.missing).toHaveLength(1);
        expect(d.missing[0]!.Condition).toEqual({
            Null: { "aws:multifactorauthpresent": ["true"] },
            StringNotEqualsIgnoreCase: { "aws:username": ["ci-bot", "securityreader"] },
        });
    });

    it("a duplicated statement is the same policy", () => {
        const twice = clone(reference);
        twice.Statement.push({ ...twice.Statement[0]!, Sid: "Again" });
        expect(policiesEqual(reference, twice)).toBe(true);
    });

    it("the Version must match; no Version means 2008-10-17", () => {
        const old = clone(reference);
        old.Version = "2008-10-17";
        expect(policiesEqual(reference, old)).toBe(false);
        expect(policyDifference(reference, old)).toEqual({ missing: [], extra: [], version: { expected: "2012-10-17", actual: "2008-10-17" } });
        const none = clone(reference);
        delete none.Version;
        expect(policyDifference(reference, none).version).toEqual({ expected: "2012-10-17", actual: "2008-10-17" });
        expect(policiesEqual(old, none)).toBe(true);
    });

    it("Resource ARNs are case-sensitive; an IAM path in the ARN counts", () => {
        const upper = clone(reference);
        const s = upper.Statement.find((x) => x["Sid"] === "AllowManagingOwnMfa")!;
        s["Resource"] = "arn:aws:iam::*:user/${AWS:username}";
        expect(policiesEqual(reference, upper)).toBe(false);
    });

    it("Effect and Action/NotAction are not interchangeable", () => {
        const a = { Version: "2012-10-17", Statement: [{ Effect: "Deny", Action: "s3:*", Resource: "*" }] };
        expect(policiesEqual(a, { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] })).toBe(false);
        expect(policiesEqual(a, { Version: "2012-10-17", Statement: [{ Effect: "Deny", NotAction: "s3:*", Resource: "*" }] })).toBe(false);
        expect(policiesEqual(a, { Version: "2012-10-17", Statement: [{ Effect: "Deny", Action: "s3:*", NotResource: "*" }] })).toBe(false);
    });
});

describe("User_Source_IP_Restrictions and Config_Write", () => {
    const reference = sourceIpRestrictionPolicy({ cidrs: ["195.89.85.67/32", "2001:db8::/32", "10.0.0.0/8"], accountId: ACCOUNT });

    it("CIDR order and spelling do not matter: bare addresses, upper-case or long IPv6, host bits", () => {
        const other = clone(sourceIpRestrictionPolicy({ cidrs: ["10.0.0.1/8", "2001:DB8:0:0::/32", "195.89.85.67"], accountId: ACCOUNT }));
        other.Statement.reverse();
        expect(policiesEqual(reference, other)).toBe(true);
    });

    it("another CIDR, one CIDR fewer, or another account in aws:VpceAccount is a difference", () => {
        expect(policiesEqual(reference, sourceIpRestrictionPolicy({ cidrs: ["195.89.85.68/32", "2001:db8::/32", "10.0.0.0/8"], accountId: ACCOUNT }))).toBe(false);
        expect(policiesEqual(reference, sourceIpRestrictionPolicy({ cidrs: ["195.89.85.67/32", "10.0.0.0/8"], accountId: ACCOUNT }))).toBe(false);
        expect(policiesEqual(reference, sourceIpRestrictionPolicy({ cidrs: ["195.89.85.67/32", "2001:db8::/32", "10.0.0.0/8"], accountId: "210987654321" }))).toBe(false);
    });

    it("Null's and Bool's values ignore case and JSON booleans; condition keys ignore case", () => {
        const other = clone(reference);
        const c = other.Statement[0]!["Condition"] as Record<string, Record<string, unknown>>;
        c["Null"] = { "AWS:SOURCEIP": false };
        c["BoolIfExists"] = { "aws:viaawsservice": "False" };
        expect(policiesEqual(reference, other)).toBe(true);
    });

    it("Config_Write: ForAnyValue:StringEqualsIgnoreCase values ignore case; StringEquals values do not", () => {
        const ref = configWritePolicy({ ...AWS, accountId: ACCOUNT });
        const recased = clone(ref);
        const tagKeys = recased.Statement.find((s) => s["Sid"] === "DenySettingOrRemovingAirlocksTag")!;
        tagKeys["Condition"] = { "ForAnyValue:StringEqualsIgnoreCase": { "AWS:TagKeys": "AIRLOCK:MANAGED" } };
        expect(policiesEqual(ref, recased)).toBe(true);

        const valueCase = clone(ref);
        const tagged = valueCase.Statement.find((s) => s["Sid"] === "DenyChangingAirlocksRules")!;
        tagged["Condition"] = { StringEquals: { "aws:ResourceTag/airlock:managed": "TRUE" } };
        expect(policiesEqual(ref, valueCase)).toBe(false);
        const keyCase = clone(ref);
        keyCase.Statement.find((s) => s["Sid"] === "DenyChangingAirlocksRules")!["Condition"] = { StringEquals: { "AWS:RESOURCETAG/AIRLOCK:MANAGED": "true" } };
        expect(policiesEqual(ref, keyCase)).toBe(true);
    });

    it("condition operator names are compared as written (the conservative choice)", () => {
        const a = { Version: "2012-10-17", Statement: [{ Effect: "Deny", Action: "*", Resource: "*", Condition: { StringEquals: { "aws:username": "a" } } }] };
        const b = { Version: "2012-10-17", Statement: [{ Effect: "Deny", Action: "*", Resource: "*", Condition: { stringequals: { "aws:username": "a" } } }] };
        expect(policiesEqual(a, b)).toBe(false);
    });

    it("ArnLike values are case-sensitive; Numeric values compare as numbers", () => {
        const base = (condition: unknown) => ({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "*", Condition: condition }] });
        expect(policiesEqual(base({ ArnLike: { "aws:SourceArn": "arn:aws:sns:*:*:Topic" } }), base({ ArnLike: { "aws:SourceArn": "arn:aws:sns:*:*:topic" } }))).toBe(false);
        expect(policiesEqual(base({ NumericLessThan: { "s3:max-keys": "10" } }), base({ NumericLessThan: { "s3:max-keys": 10 } }))).toBe(true);
        expect(policiesEqual(base({ NumericLessThan: { "s3:max-keys": "10.0" } }), base({ NumericLessThan: { "s3:max-keys": "10" } }))).toBe(true);
        expect(policiesEqual(base({ NumericLessThan: { "s3:max-keys": "11" } }), base({ NumericLessThan: { "s3:max-keys": "10" } }))).toBe(false);
    });

    it("an empty Condition, or an operator with no keys, is no condition", () => {
        const a = { Version: "2012-10-17", Statement: { Effect: "Allow", Action: "s3:GetObject", Resource: "*" } };
        expect(policiesEqual(a, { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: ["s3:GetObject"], Resource: ["*"], Condition: {} }] })).toBe(true);
        expect(policiesEqual(a, { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "*", Condition: { StringEquals: {} } }] })).toBe(true);
    });
});

describe("normalizePolicy", () => {
    it("gives canonical statements: lower-case sorted actions, sorted resources, no Sid, lower-case condition keys", () => {
        expect(
            normalizePolicy({
                Version: "2012-10-17",
                Statement: { Sid: "X", Effect: "Allow", Action: ["S3:PutObject", "s3:GetObject", "s3:getobject"], Resource: ["b", "a"], Condition: { IpAddress: { "AWS:SourceIp": ["10.1.2.3", "10.0.0.0/8"] } } },
            }),
        ).toEqual({
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Action: ["s3:getobject", "s3:putobject"], Resource: ["a", "b"], Condition: { IpAddress: { "aws:sourceip": ["10.0.0.0/8", "10.1.2.3/32"] } } }],
        });
    });

    it("is idempotent: a normalized policy normalizes to itself", () => {
        for (const doc of [reorderedForceMfa(), sourceIpRestrictionPolicy({ cidrs: ["10.0.0.1/8"], accountId: ACCOUNT }), configWritePolicy({ ...AWS, accountId: ACCOUNT })]) {
            const once = normalizePolicy(doc);
            expect(normalizePolicy(once)).toEqual(once);
        }
    });

    it("principals: order of values does not matter, their case does; unknown keys are compared verbatim", () => {
        const a = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: ["arn:aws:iam::111111111111:root", "arn:aws:iam::222222222222:root"] }, Action: "s3:GetObject", Resource: "*" }] };
        const b = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: ["arn:aws:iam::222222222222:root", "arn:aws:iam::111111111111:root"] }, Action: "s3:GetObject", Resource: "*" }] };
        expect(policiesEqual(a, b)).toBe(true);
        expect(policiesEqual({ ...a, Statement: [{ ...a.Statement[0], Principal: "*" }] }, { ...a, Statement: [{ ...a.Statement[0], Principal: "*" }] })).toBe(true);
        expect(policiesEqual(a, { ...a, Statement: [{ ...a.Statement[0], Principal: { Service: "ec2.amazonaws.com" } }] })).toBe(false);
        expect(policiesEqual(a, { ...a, Statement: [{ ...a.Statement[0], Bogus: 1 }] })).toBe(false);
    });

    it("refuses what is not a policy document", () => {
        expect(() => normalizePolicy("{not json")).toThrow(PolicyDocumentError);
        expect(() => normalizePolicy([])).toThrow(/JSON object, not a list/);
        expect(() => normalizePolicy(null)).toThrow(/not null/);
        expect(() => normalizePolicy({ Version: "2012-10-17" })).toThrow(/no Statement/);
        expect(() => normalizePolicy({ Version: "2012-10-17", Statement: ["x"] })).toThrow(/Statement 0 is string/);
        expect(() => normalizePolicy({ Version: "2012-10-17", Statement: [{ Action: "*", Resource: "*" }] })).toThrow(/no Effect/);
        expect(() => normalizePolicy({ Version: 2012, Statement: [] })).toThrow(/Version must be a string/);
        expect(() => normalizePolicy({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*", Condition: "x" }] })).toThrow(/Condition/);
    });

    it("canonicalCidr: network address and prefix; anything else unchanged", () => {
        expect(canonicalCidr("203.0.113.5")).toBe("203.0.113.5/32");
        expect(canonicalCidr("10.9.8.7/8")).toBe("10.0.0.0/8");
        expect(canonicalCidr("2001:DB8:0:0:0:0:0:1")).toBe("2001:db8::1/128");
        expect(canonicalCidr("2001:DB8:0::/32")).toBe("2001:db8::/32");
        expect(canonicalCidr("10.0.0.0/33")).toBe("10.0.0.0/33");
        expect(canonicalCidr("not-an-ip")).toBe("not-an-ip");
    });
});

describe("numbers, from the audit's review", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { policiesEqual: equal } = require("../audit/policyEquivalence") as typeof import("../audit/policyEquivalence");
    const withAge = (value: unknown) => ({ Version: "2012-10-17", Statement: [{ Effect: "Deny", Action: "*", Resource: "*", Condition: { NumericGreaterThan: { "aws:MultiFactorAuthAge": value } } }] });
    it("reads plain decimals alike (3600, \"3600\", \"3600.0\") and nothing else as a number", () => {
        expect(equal(withAge("3600"), withAge(3600))).toBe(true);
        expect(equal(withAge("3600"), withAge("3600.0"))).toBe(true);
        expect(equal(withAge("3600"), withAge("0xE10"))).toBe(false);
        expect(equal(withAge("1000"), withAge("1e3"))).toBe(false);
    });
});
