/**
 * Admin-equivalent managed policies are refused at config validation unless the stack opts in
 * (issue 8, section 3): an instance that holds one could move itself out of the airlock.
 */
import { ADMIN_EQUIVALENT_POLICIES, ALLOW_ADMIN_POLICIES_KEY, adminEquivalentPolicy, adminPolicyProblems } from "../config/adminPolicies";
import { ConfigError, parseAirlockConfig } from "../config/schema";
import { devConfigWith } from "./support/program";

describe("adminEquivalentPolicy", () => {
    it.each([
        "arn:aws:iam::aws:policy/AdministratorAccess",
        "arn:aws:iam::aws:policy/PowerUserAccess",
        "arn:aws:iam::aws:policy/IAMFullAccess",
        "arn:aws:iam::aws:policy/AmazonEC2FullAccess",
        "arn:aws:iam::aws:policy/AmazonVPCFullAccess",
        "arn:aws:iam::aws:policy/job-function/NetworkAdministrator",
        "arn:aws:iam::aws:policy/job-function/SystemAdministrator",
        "arn:aws:iam::aws:policy/AdministratorAccess-Amplify",
        "arn:aws:iam::aws:policy/AdministratorAccess-AWSElasticBeanstalk",
        // Other partitions, and the name in other letter cases (IAM names are unique case-insensitively).
        "arn:aws-us-gov:iam::aws:policy/AdministratorAccess",
        "arn:aws-cn:iam::aws:policy/IAMFullAccess",
        "arn:aws:iam::aws:policy/administratoraccess",
        // Without its path, a job-function policy is still named.
        "arn:aws:iam::aws:policy/NetworkAdministrator",
    ])("%s is admin-equivalent", (arn) => {
        expect(adminEquivalentPolicy(arn)).toBeDefined();
    });

    it.each([
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
        "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
        "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
        "arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess",
        "arn:aws:iam::aws:policy/AdministratorAccessX",
        // A customer-managed policy that happens to share the name is the account's own: not judged by its ARN.
        "arn:aws:iam::123456789012:policy/AdministratorAccess",
    ])("%s is not", (arn) => {
        expect(adminEquivalentPolicy(arn)).toBeUndefined();
    });

    it("lists at least the policies the issue names", () => {
        expect(ADMIN_EQUIVALENT_POLICIES.map((p) => p.name)).toEqual(
            expect.arrayContaining([
                "AdministratorAccess",
                "PowerUserAccess",
                "IAMFullAccess",
                "AmazonEC2FullAccess",
                "AmazonVPCFullAccess",
                "job-function/NetworkAdministrator",
                "job-function/SystemAdministrator",
            ]),
        );
    });
});

describe("adminPolicyProblems", () => {
    const instances = [
        { name: "web-1", managedPolicyArns: ["arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"] },
        { name: "ops-1", managedPolicyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/AdministratorAccess"] },
    ];

    it("names the instance index, the ARN and the opt-in", () => {
        expect(adminPolicyProblems(instances, false)).toEqual([
            '`airlock:instances[1].managedPolicyArns[1]` is "arn:aws:iam::aws:policy/AdministratorAccess", an admin-equivalent policy (it grants every action on every resource): ' +
                "the instance could move itself out of the airlock or grant itself more. Grant the application narrower rights, " +
                "or set `airlock:allowAdminPolicies` to true if this instance really must be an administrator.",
        ]);
        expect(ALLOW_ADMIN_POLICIES_KEY).toBe("airlock:allowAdminPolicies");
    });

    it("says nothing once the stack opts in", () => {
        expect(adminPolicyProblems(instances, true)).toEqual([]);
    });

    it.each([[[]], [[null]], [["not an object"]], [[{ managedPolicyArns: "arn:aws:iam::aws:policy/AdministratorAccess" }]], [[{ managedPolicyArns: [42] }]]])(
        "skips what the schema reports itself: %j",
        (raw) => {
            expect(adminPolicyProblems(raw, false)).toEqual([]);
        },
    );
});

describe("through the config schema", () => {
    function problemsOf(changes: Record<string, unknown>): string[] {
        const stack = devConfigWith(changes);
        try {
            parseAirlockConfig(stack.values, stack.secretKeys);
        } catch (err) {
            if (err instanceof ConfigError) {
                return [...err.problems];
            }
            throw err;
        }
        return [];
    }
    const withPolicies = (arns: string[]) => [{ name: "web-1", instanceType: "t3.small", managedPolicyArns: arns }];

    it.each([
        ["arn:aws:iam::aws:policy/AdministratorAccess"],
        ["arn:aws:iam::aws:policy/PowerUserAccess"],
        ["arn:aws:iam::aws:policy/IAMFullAccess"],
        ["arn:aws:iam::aws:policy/AmazonEC2FullAccess"],
        ["arn:aws:iam::aws:policy/AmazonVPCFullAccess"],
        ["arn:aws:iam::aws:policy/job-function/NetworkAdministrator"],
        ["arn:aws:iam::aws:policy/job-function/SystemAdministrator"],
    ])("refuses %s without the opt-in, naming the instance, the ARN and the opt-in", (arn) => {
        const problems = problemsOf({ "airlock:instances": withPolicies(["arn:aws:iam::aws:policy/ReadOnlyAccess", arn]) });
        expect(problems).toEqual([expect.stringContaining(`\`airlock:instances[0].managedPolicyArns[1]\` is "${arn}", an admin-equivalent policy`)]);
        expect(problems[0]).toContain("`airlock:allowAdminPolicies`");
    });

    it("accepts it with airlock:allowAdminPolicies: true", () => {
        expect(problemsOf({ "airlock:instances": withPolicies(["arn:aws:iam::aws:policy/AdministratorAccess"]), "airlock:allowAdminPolicies": "true" })).toEqual([]);
    });

    it("accepts ordinary policies without the opt-in", () => {
        expect(problemsOf({ "airlock:instances": withPolicies(["arn:aws:iam::aws:policy/ReadOnlyAccess"]) })).toEqual([]);
    });

    it("refuses an opt-in that is not a boolean", () => {
        expect(problemsOf({ "airlock:allowAdminPolicies": "yes" })).toEqual([expect.stringContaining("`airlock:allowAdminPolicies` must be true or false")]);
    });
});
