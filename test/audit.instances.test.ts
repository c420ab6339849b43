/**
 * The unmanaged-instances check and `--quarantine` (audit/checks/unmanagedInstances.ts) against moto
 * 5.2.1, and the stack-output reader (audit/stackOutputs.ts) as pure functions.
 *
 * moto serves every call here (DescribeInstances with the instance-state-name filter and
 * MaxResults/NextToken, DescribeSecurityGroups, CreateTags, ModifyNetworkInterfaceAttribute,
 * CreateNetworkInterface/AttachNetworkInterface); nothing is mocked at the SDK level.
 */
import {
    AttachNetworkInterfaceCommand,
    CreateNetworkInterfaceCommand,
    CreateSecurityGroupCommand,
    CreateVpcCommand,
    DescribeInstancesCommand,
    EC2Client,
    Instance,
    RunInstancesCommand,
    StopInstancesCommand,
    TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import type { CheckContext, ClientFactory, ClientSettings } from "../audit/checks/context";
import {
    LISTED_STATES,
    PREVIOUS_GROUPS_TAG,
    QUARANTINED_AT_TAG,
    QUARANTINED_BY_TAG,
    QUARANTINE_REASON_TAG,
    makeUnmanagedInstancesCheck,
    unmanagedInstancesCheck,
} from "../audit/checks/unmanagedInstances";
import type { Finding } from "../audit/findings";
import { StackOutputsError, managedInstanceIdsFrom } from "../audit/stackOutputs";
import type { Target } from "../audit/targets";
import { MANAGED_TAG } from "../policies/keyNaming";
import { MOTO_ACCOUNT_ID, MOTO_REGION, Moto, SeededInstance, awsClientConfig, seedAirlockInstance, startMoto } from "./support/moto";

// ---------------------------------------------------------------------------------------------
// managedInstanceIdsFrom (pure)

const ID_A = "i-0123456789abcdef0";
const ID_B = "i-0fedcba9876543210";
const ID_OLD = "i-1234abcd";

function outputs(instances: unknown, extra: Record<string, unknown> = {}): string {
    return JSON.stringify({ remediationSecurityGroupId: "sg-1", productionSecurityGroupId: "sg-2", keyBucketName: "b", kmsKeyArn: "arn:k", ...extra, instances });
}

function reader(files: Record<string, string>): (file: string) => string {
    return (file) => {
        if (!(file in files)) {
            throw Object.assign(new Error(`ENOENT: no such file or directory, open '${file}'`), { code: "ENOENT" });
        }
        return files[file]!;
    };
}

describe("managedInstanceIdsFrom", () => {
    it("unions the instanceIds of every file's instances map", () => {
        const files = {
            "web.json": outputs({ "web-1": { instanceId: ID_A, privateIp: "10.0.0.1", phase: "production" }, "web-2": { instanceId: ID_OLD } }),
            "db.json": outputs({ db: { instanceId: ID_B } }),
            "empty.json": outputs({}),
        };
        expect([...managedInstanceIdsFrom(["web.json", "db.json", "empty.json"], reader(files))].sort()).toEqual([ID_A, ID_B, ID_OLD].sort());
    });

    it("gives an empty set for no files", () => {
        expect(managedInstanceIdsFrom([], reader({})).size).toBe(0);
    });

    it("reads real files by default", () => {
        const fs = jest.requireActual<typeof import("fs")>("fs");
        const os = jest.requireActual<typeof import("os")>("os");
        const path = jest.requireActual<typeof import("path")>("path");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-outputs-"));
        try {
            const file = path.join(dir, "web.json");
            fs.writeFileSync(file, outputs({ web: { instanceId: ID_A } }));
            expect([...managedInstanceIdsFrom([file])]).toEqual([ID_A]);
            expect(() => managedInstanceIdsFrom([path.join(dir, "missing.json")])).toThrow(`${path.join(dir, "missing.json")}: cannot be read (no such file)`);
            expect(() => managedInstanceIdsFrom([dir])).toThrow(`${dir}: cannot be read (is a directory)`);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    const bad: [string, string, string][] = [
        ["not JSON", "{nope", "bad.json: is not JSON ("],
        ["an array", "[]", "bad.json: is not a JSON object of stack outputs"],
        ["a guardrails-only stack (no instances)", JSON.stringify({ guardrails: {} }), 'bad.json: has no "instances" output (its outputs: guardrails)'],
        ["no outputs at all", "{}", 'bad.json: has no "instances" output (it has no outputs)'],
        ["instances a list", outputs([ID_A]), 'bad.json: "instances" is not a map of instance names to their outputs'],
        ["instances secret", outputs("[secret]"), 'bad.json: "instances" is a secret (run pulumi stack output --json --show-secrets)'],
        ["an entry without instanceId", outputs({ web: { privateIp: "10.0.0.1" } }), 'bad.json: "instances"."web" has no instanceId string'],
        ["an entry that is a string", outputs({ web: ID_A }), 'bad.json: "instances"."web" is not an object with an instanceId'],
        ["a secret instanceId", outputs({ web: { instanceId: "[secret]" } }), 'bad.json: "instances"."web".instanceId is shown as "[secret]"'],
        ["a malformed instanceId", outputs({ web: { instanceId: "sg-0123456789abcdef0" } }), 'bad.json: "instances"."web".instanceId "sg-0123456789abcdef0" is not an EC2 instance id'],
    ];
    it.each(bad)("refuses %s, naming the file", (_what, text, message) => {
        let error: unknown;
        try {
            managedInstanceIdsFrom(["good.json", "bad.json"], reader({ "good.json": outputs({ a: { instanceId: ID_A } }), "bad.json": text }));
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(StackOutputsError);
        expect((error as StackOutputsError).message.startsWith(message)).toBe(true);
        expect((error as StackOutputsError).fileName).toBe("bad.json");
        expect((error as StackOutputsError).exitCode).toBe(2);
    });

    it("refuses a missing file, naming it", () => {
        expect(() => managedInstanceIdsFrom(["nowhere.json"], reader({}))).toThrow(new StackOutputsError("nowhere.json", "cannot be read (no such file); give the output of `pulumi stack output --json` of an Airlock instance stack."));
    });
});
