/**
 * Stack files as the Pulumi CLI itself checks them (its project-schema validation runs before the
 * program): the example dev stack, a minimal stack, and stacks for each scanner. See
 * engine.test.ts for the harness.
 */
import { CreateSubnetCommand, CreateVpcCommand, EC2Client } from "@aws-sdk/client-ec2";
import { EngineWorkspace, createWorkspace, setStructuredConfig } from "./engine/engine";
import { Moto, awsClientConfig, startMoto } from "./support/moto";

jest.setTimeout(6 * 60_000);

let moto: Moto;
let ws: EngineWorkspace;
let vpcId: string;
let subnetId: string;

/** What the CLI says when its own config validation refuses a stack. */
const CLI_CONFIG_REFUSAL = /validating stack config|is missing configuration|must be of type/;

beforeAll(async () => {
    moto = await startMoto();
    const ec2 = new EC2Client(awsClientConfig(moto));
    vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: "10.50.0.0/16" }))).Vpc?.VpcId ?? "";
    subnetId = (await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: "10.50.1.0/24" }))).Subnet?.SubnetId ?? "";
    ws = await createWorkspace({ env: { ...moto.env }, extraFiles: ["Pulumi.dev.yaml"] });
}, 6 * 60_000);

afterAll(async () => {
    await ws?.cleanup();
    await moto?.stop();
});

test("the dev stack file passes the CLI's validation once its secrets are set as README says", async () => {
    await ws.pulumi(["stack", "init", "dev", "--secrets-provider", "passphrase"]);
    // As README and the file's header say: the command prompts and the key is typed in.
    await ws.pulumi(["config", "set", "--secret", "airlock:scannerAccessKey", "--stack", "dev"], { stdin: "ak-example" });
    await ws.pulumi(["config", "set", "--secret", "airlock:scannerSecretKey", "--stack", "dev"], { stdin: "sk-example" });
    const r = await ws.pulumi(["preview", "--stack", "dev"], { allowFailure: true });
    expect(r.output).not.toMatch(CLI_CONFIG_REFUSAL);
    // The program ran (its VPC and subnets are not in the emulator, so the preview may stop at a look-up).
    expect(r.output).toContain("airlock-dev");
});

describe.each([
    ["inspector", []],
    ["none", []],
    ["tenable", [["airlock:scannerUrl", "https://nessus.example.internal:8834"], ["airlock:scannerTemplateUuid", "731a8e52-3ea6-a291-ec0a-d2ff0619c19d7bd788d6be818b65"]]],
] as const)("a minimal stack with scannerKind %s", (kind, extra) => {
    test("passes the CLI's validation and previews", async () => {
        const stack = `minimal-${kind}`;
        await ws.pulumi(["stack", "init", stack, "--secrets-provider", "passphrase"]);
        await ws.pulumi(["config", "set", "aws:region", "eu-west-1", "--stack", stack]);
        await ws.pulumi(["config", "set", "airlock:vpcId", vpcId, "--stack", stack]);
        await ws.pulumi(["config", "set", "airlock:subnetId", subnetId, "--stack", stack]);
        await ws.pulumi(["config", "set", "airlock:scannerKind", kind, "--stack", stack]);
        for (const [key, value] of extra) {
            await ws.pulumi(["config", "set", key, value, "--stack", stack]);
        }
        if (kind === "tenable") {
            await setStructuredConfig(ws, stack, "airlock:scannerSourceCidrs", ["10.30.5.10/32"]);
            await ws.pulumi(["config", "set", "--secret", "airlock:scannerAccessKey", "ak-example", "--stack", stack]);
            await ws.pulumi(["config", "set", "--secret", "airlock:scannerSecretKey", "sk-example", "--stack", stack]);
        }
        await setStructuredConfig(ws, stack, "airlock:instances", [{ name: "app-1", instanceType: "t3.small" }]);
        const r = await ws.pulumi(["preview", "--stack", stack], { allowFailure: true });
        expect(r.output).not.toMatch(CLI_CONFIG_REFUSAL);
        expect(r.code === 0 ? "ok" : r.output).toBe("ok");
        expect(r.output).toContain("app-1-promotion");
        if (kind === "none") {
            expect(r.output).toContain("WITHOUT a vulnerability scan");
        }
    });
});
