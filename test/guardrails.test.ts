/**
 * The guardrails' components under the mock engine: the exact resources and policy documents they
 * declare (the documents' semantics are in test/groupPolicies.test.ts, in the IAM simulator).
 */
import { ACCOUNT_ID, MockEngine, installMocks, valueOf } from "./support/mocks";
import { waitForRegistrations } from "./support/program";

const engine: MockEngine = installMocks();
/* eslint-disable @typescript-eslint/no-require-imports */
const { GroupPolicies, groupPoliciesProblems } = require("../components/groupPolicies") as typeof import("../components/groupPolicies");
const { configWritePolicy, forceMfaPolicy, sourceIpRestrictionPolicy } = require("../policies/groupPolicies") as typeof import("../policies/groupPolicies");
/* eslint-enable @typescript-eslint/no-require-imports */

beforeEach(() => engine.reset());

async function declare<T>(build: () => T): Promise<T> {
    const result = build();
    await waitForRegistrations();
    return result;
}

const AWS = { partition: "aws", dnsSuffix: "amazonaws.com" };

describe("GroupPolicies", () => {
    const args = {
        sourceCidrs: ["195.89.85.64/28"],
        devOpsUsers: ["alice", "bob"],
        securityAuditUsers: ["cloudkestrel"],
        ignoredUsers: ["svc-backup"],
        tags: { team: "security" },
    };
    const build = () => declare(() => new GroupPolicies("guardrails", args));

    it("declares CloudKestrel's three managed policies, by their names, with the documents policies/ builds", async () => {
        await build();
        const policies = Object.fromEntries(engine.ofType("aws:iam/policy:Policy").map((p) => [p.inputs.name, JSON.parse(p.inputs.policy)]));
        expect(policies).toEqual({
            Force_MFA: JSON.parse(JSON.stringify(forceMfaPolicy({ ...AWS, ignoredUsers: ["svc-backup"] }))),
            User_Source_IP_Restrictions: JSON.parse(JSON.stringify(sourceIpRestrictionPolicy({ cidrs: ["195.89.85.64/28"] }))),
            Config_Write: JSON.parse(JSON.stringify(configWritePolicy({ ...AWS, accountId: ACCOUNT_ID }))),
        });
        for (const policy of engine.ofType("aws:iam/policy:Policy")) {
            expect(policy.inputs.tags).toEqual({ team: "security", "airlock:managed": "true" });
        }
    });

    it("wires the groups as in CloudKestrel's table: DevOps = Force_MFA + source IP; SecurityAudit = source IP + SecurityAudit + Config_Write", async () => {
        await build();
        const policyName = (arn: string) => arn.split("/").pop();
        const attached = (group: string) =>
            engine
                .ofType("aws:iam/groupPolicyAttachment:GroupPolicyAttachment")
                .filter((a) => a.inputs.group === group)
                .map((a) => policyName(a.inputs.policyArn))
                .sort();
        expect(engine.ofType("aws:iam/group:Group").map((g) => g.inputs.name)).toEqual(["DevOps", "SecurityAudit"]);
        expect(attached("DevOps")).toEqual(["Force_MFA", "User_Source_IP_Restrictions"]);
        expect(attached("SecurityAudit")).toEqual(["Config_Write", "SecurityAudit", "User_Source_IP_Restrictions"]);
        expect(engine.ofType("aws:iam/groupPolicyAttachment:GroupPolicyAttachment").find((a) => policyName(a.inputs.policyArn) === "SecurityAudit")?.inputs.policyArn).toBe(
            "arn:aws:iam::aws:policy/SecurityAudit",
        );
    });

    it("adds members per user (never the exclusive GroupMembership, which would remove members added elsewhere)", async () => {
        const component = await build();
        expect(engine.ofType("aws:iam/groupMembership:GroupMembership")).toEqual([]);
        const memberships = engine.ofType("aws:iam/userGroupMembership:UserGroupMembership").map((m) => [m.inputs.user, m.inputs.groups]);
        expect(memberships).toEqual([
            ["alice", ["DevOps"]],
            ["bob", ["DevOps"]],
            ["cloudkestrel", ["SecurityAudit"]],
        ]);
        expect(await valueOf(component.groupNames)).toEqual(["DevOps", "SecurityAudit"]);
    });

    it.each<[string, Partial<Parameters<typeof groupPoliciesProblems>[1]>, string]>([
        ["no CIDRs", { sourceCidrs: [] }, "GroupPolicies g: `sourceCidrs` is empty; User_Source_IP_Restrictions would deny every request. Name the ranges users work from."],
        ["a CIDR without a mask", { sourceCidrs: ["195.89.85.67"] }, 'GroupPolicies g: `sourceCidrs[0]` "195.89.85.67": CIDR mask is missing. Did you mean "195.89.85.67/32"?'],
        ["a user name AWS refuses", { devOpsUsers: ["alice smith"] }, 'GroupPolicies g: `devOpsUsers[0]` must be an IAM user name (1-64 of letters, digits and +=,.@_-), not "alice smith".'],
        ["a user named twice", { securityAuditUsers: ["ck", "ck"] }, 'GroupPolicies g: `securityAuditUsers` names "ck" twice.'],
    ])("refuses %s, naming the field", (_what, change, message) => {
        expect(groupPoliciesProblems("g", { sourceCidrs: ["10.0.0.0/8"], ...change })).toEqual([message]);
        expect(() => new GroupPolicies("g", { sourceCidrs: ["10.0.0.0/8"], ...change })).toThrow(message);
    });
});
