/**
 * Scan-and-promote end to end, the way `pulumi up` runs it: the real provider, serialized with
 * Pulumi's closure serializer, inside Pulumi's own dynamic-provider host, driven over gRPC; AWS is
 * the moto emulator and Tenable a scripted fake, both on loopback. Every assertion about AWS reads
 * the emulator's state back.
 */
import { CreateTagsCommand, EC2Client, ModifyInstanceAttributeCommand, TerminateInstancesCommand } from "@aws-sdk/client-ec2";
import { DeleteRoleCommand, IAMClient, PutRolePolicyCommand, RemoveRoleFromInstanceProfileCommand } from "@aws-sdk/client-iam";
import { Moto, SeededInstance, awsClientConfig, seedAirlockInstance, seedManagedPolicy, startMoto } from "./support/moto";
import { ProviderHost, UNKNOWN, dynamicUrn, startProviderHost } from "./support/providerHost";
import { PROMOTION_TYPE as TYPE, attachedPoliciesOf, groupsOf, phasePolicyOf, PromotionProviderTexts, promotionInputs, serializePromotionProvider, signalBootstrapWhenAllowed } from "./support/promotionWorld";
import { FAKE_KEYS, TenableFake, startTenableFake } from "./support/tenableFake";
import { BOOTSTRAP_FAILURE_WAY_OUT } from "../providers/promotionFlow";


let moto: Moto;
let tenable: TenableFake;
let host: ProviderHost;
let providerText: PromotionProviderTexts;
let ec2: EC2Client;
let iam: IAMClient;

beforeAll(async () => {
    [moto, tenable, providerText] = await Promise.all([startMoto(), startTenableFake(), serializePromotionProvider()]);
    host = await startProviderHost({ env: { ...moto.env, AIRLOCK_POLL_INITIAL_MS: "40" } });
    ec2 = new EC2Client(awsClientConfig(moto));
    iam = new IAMClient(awsClientConfig(moto));
}, 60_000);

afterAll(async () => {
    await Promise.all([host?.stop(), moto?.stop(), tenable?.stop()]);
});

beforeEach(async () => {
    await moto.reset();
    tenable.setScript({ kind: "clean" });
});

const inputsFor = (instance: SeededInstance, name = "web-1", extra: Record<string, unknown> = {}) => promotionInputs(providerText, tenable.url, instance, name, extra);
const signalBootstrapSoon = (instance: SeededInstance, status: "success" | "failure" = "success", reason = "") => signalBootstrapWhenAllowed(ec2, iam, instance, status, reason);
const groupsOfInstance = (instanceId: string) => groupsOf(ec2, instanceId);
const phasePolicyOfRole = (roleName: string) => phasePolicyOf(iam, roleName);

describe("through Pulumi's dynamic-provider host", () => {
    it("check validates, and accepts unknowns during preview", async () => {
        const instance = await seedAirlockInstance(moto);
        const urn = dynamicUrn("web-1-promotion", TYPE);
        expect((await host.check(urn, {}, inputsFor(instance))).failures).toEqual([]);
        expect((await host.check(urn, {}, inputsFor(instance, "web-1", { instanceId: UNKNOWN, roleName: UNKNOWN }))).failures).toEqual([]);
        expect((await host.check(urn, {}, inputsFor(instance, "web-1", { severityThreshold: "severe" }))).failures).toEqual([
            { property: "severityThreshold", reason: '`severityThreshold` must be one of info, low, medium, high, critical, not "severe".' },
        ]);
    });

    it("create refuses a threshold the flow does not know, naming the field, before any AWS change (even when check did not run)", async () => {
        const instance = await seedAirlockInstance(moto, { tags: { "airlock:bootstrap": "success" } });
        tenable.setScript({ kind: "findings", vulnerabilities: [{ plugin_id: 201194, plugin_name: "OpenSSH < 9.8p1 Remote Code Execution (regreSSHion)", severity: 4 }] });
        const before = (await moto.requests()).length;
        const outcome = await host.create(dynamicUrn("web-1-promotion", TYPE), inputsFor(instance, "web-1", { severityThreshold: "CRITICAL" }));
        expect(outcome.ok).toBe(false);
        expect(outcome.ok ? "" : outcome.message).toContain('`severityThreshold` must be one of info, low, medium, high, critical, not "CRITICAL".');
        // Nothing was done, so nothing is recorded: no partial state, no AWS call, no scan.
        expect(outcome.ok ? undefined : outcome.partial).toBeUndefined();
        expect((await moto.requests()).slice(before)).toEqual([]);
        expect(tenable.requests).toEqual([]);
        expect(await groupsOfInstance(instance.instanceId)).toEqual([instance.remediationSecurityGroupId]);
        expect(JSON.stringify(outcome) + host.output()).not.toMatch(new RegExp(`${FAKE_KEYS.accessKey}|${FAKE_KEYS.secretKey}`));
    });

    it("promotes a clean instance: production policy first, then the production group", async () => {
        const instance = await seedAirlockInstance(moto);
        const inputs = inputsFor(instance);
        const [outcome] = await Promise.all([host.create(dynamicUrn("web-1-promotion", TYPE), inputs), signalBootstrapSoon(instance)]);
        expect(outcome).toEqual(expect.objectContaining({ ok: true, id: instance.instanceId }));
        const properties = outcome.ok ? outcome.properties : {};
        expect(properties).toEqual(expect.objectContaining({ phase: "production", scannerKind: "tenable", reasons: [], findingCounts: { info: 0, low: 0, medium: 0, high: 0, critical: 0 } }));

        // What the emulator holds afterwards.
        expect(await groupsOfInstance(instance.instanceId)).toEqual([instance.productionSecurityGroupId]);
        expect(await phasePolicyOfRole(instance.roleName)).toBe(inputs.productionPolicy);

        // The order that keeps the invariant, as AWS saw it.
        const mutations = (await moto.requests()).map((r) => r.action).filter((a) => a === "PutRolePolicy" || a === "ModifyInstanceAttribute");
        expect(mutations).toEqual(["PutRolePolicy", "PutRolePolicy", "ModifyInstanceAttribute"]);
        // The scan targeted the instance's private IP.
        expect(tenable.requestsTo("create")[0]?.body).toEqual(expect.objectContaining({ settings: expect.objectContaining({ text_targets: instance.privateIp }) }));
        // Progress reached the host's output, and no secret reached anything.
        expect(host.output()).toMatch(/airlock: web-1: waiting for bootstrap[\s\S]*airlock: web-1: promoted to production/);
        expect(JSON.stringify(properties) + host.output()).not.toMatch(new RegExp(`${FAKE_KEYS.accessKey}|${FAKE_KEYS.secretKey}`));
    });

    it("records a blocked instance as partial state in remediation, and the next up promotes it through update", async () => {
        const instance = await seedAirlockInstance(moto);
        const inputs = inputsFor(instance);
        const urn = dynamicUrn("web-1-promotion", TYPE);
        tenable.setScript({
            kind: "findings",
            vulnerabilities: [
                { plugin_id: 201194, plugin_name: "OpenSSH < 9.8p1 Remote Code Execution (regreSSHion)", severity: 4, cve: ["CVE-2024-6387"] },
                { plugin_id: 58751, plugin_name: "SSL/TLS Protocol Initialization Vector Implementation Information Disclosure Vulnerability (BEAST)", severity: 2 },
                { plugin_id: 10287, plugin_name: "Traceroute Information", severity: 0 },
            ],
        });
        const [blocked] = await Promise.all([host.create(urn, inputs), signalBootstrapSoon(instance)]);
        expect(blocked.ok).toBe(false);
        if (blocked.ok) {
            return;
        }
        expect(blocked.message).toBe(
            `Instance web-1 stays in quarantine (remediation security group): 2 finding(s) at or above medium (1 critical, 1 medium) in scan 101\n` +
                `  CRITICAL tenable-plugin-201194: OpenSSH < 9.8p1 Remote Code Execution (regreSSHion) (CVE-2024-6387)\n` +
                `  MEDIUM tenable-plugin-58751: SSL/TLS Protocol Initialization Vector Implementation Information Disclosure Vulnerability (BEAST)`,
        );
        expect(blocked.partial).toEqual({
            id: instance.instanceId,
            properties: expect.objectContaining({ phase: "remediation", scanId: "101", findingCounts: { info: 1, low: 0, medium: 1, high: 0, critical: 1 } }),
            // What `pulumi up` shows: the whole summary, one line each.
            reasons: [
                "Instance web-1 stays in quarantine (remediation security group): 2 finding(s) at or above medium (1 critical, 1 medium) in scan 101",
                "CRITICAL tenable-plugin-201194: OpenSSH < 9.8p1 Remote Code Execution (regreSSHion) (CVE-2024-6387)",
                "MEDIUM tenable-plugin-58751: SSL/TLS Protocol Initialization Vector Implementation Information Disclosure Vulnerability (BEAST)",
            ],
        });
        expect(await groupsOfInstance(instance.instanceId)).toEqual([instance.remediationSecurityGroupId]);
        expect(await phasePolicyOfRole(instance.roleName)).toBe(inputs.launchPolicy);

        // The team patches the instance; the next `pulumi up` retries through update.
        tenable.setScript({ kind: "clean" });
        const retried = await host.update(urn, instance.instanceId, blocked.partial?.properties ?? {}, inputs);
        expect(retried).toEqual(expect.objectContaining({ ok: true, properties: expect.objectContaining({ phase: "production" }) }));
        expect(await groupsOfInstance(instance.instanceId)).toEqual([instance.productionSecurityGroupId]);
        expect(await phasePolicyOfRole(instance.roleName)).toBe(inputs.productionPolicy);
    });

    it("a quarantined instance's partial state carries the small recovery provider: the host refreshes and deletes it with that alone", async () => {
        const instance = await seedAirlockInstance(moto, { tags: { "airlock:bootstrap": "success" } });
        const urn = dynamicUrn("web-1-promotion", TYPE);
        tenable.setScript({ kind: "findings", vulnerabilities: [{ plugin_id: 201194, plugin_name: "OpenSSH < 9.8p1 Remote Code Execution (regreSSHion)", severity: 4 }] });
        const blocked = await host.create(urn, inputsFor(instance));
        const properties = blocked.ok ? {} : (blocked.partial?.properties ?? {});
        // Not the whole provider (about 85 KB, which a Node.js gRPC client could not even receive in a
        // trailer: nghttp2 refuses header fields over 64 KB), but the recovery provider.
        expect(properties.__provider).toBe(providerText.recovery);
        expect(Buffer.byteLength(JSON.stringify(properties))).toBeLessThan(48 * 1024);
        expect(Buffer.byteLength(providerText.text)).toBeGreaterThan(64 * 1024);

        // `pulumi refresh` (Read from the recorded outputs only) and `pulumi destroy` (Delete).
        const read = await host.read(urn, instance.instanceId, properties);
        expect(read.properties).toEqual(expect.objectContaining({ phase: "remediation", __provider: providerText.recovery }));
        await host.delete(urn, instance.instanceId, properties);
        expect(await phasePolicyOfRole(instance.roleName)).toBeUndefined();
    });

    it("records a bootstrap failure with its reason, without scanning", async () => {
        const instance = await seedAirlockInstance(moto);
        const [outcome] = await Promise.all([
            host.create(dynamicUrn("web-1-promotion", TYPE), inputsFor(instance)),
            signalBootstrapSoon(instance, "failure", "luks: key object not found after 10 attempts"),
        ]);
        expect(outcome).toEqual(
            expect.objectContaining({ ok: false, partial: expect.objectContaining({ reasons: [`Instance web-1 stays in quarantine (remediation security group): bootstrap failed: luks: key object not found after 10 attempts; ${BOOTSTRAP_FAILURE_WAY_OUT}`] }) }),
        );
        expect(tenable.requests).toEqual([]);
        expect(await groupsOfInstance(instance.instanceId)).toEqual([instance.remediationSecurityGroupId]);
    });

    it("demotes a production instance whose rescan stops at the bootstrap step: state and AWS both say remediation", async () => {
        const instance = await seedAirlockInstance(moto, { tags: { "airlock:bootstrap": "success" } });
        const urn = dynamicUrn("web-1-promotion", TYPE);
        const inputs = inputsFor(instance);
        const created = await host.create(urn, inputs);
        expect(created).toEqual(expect.objectContaining({ ok: true, properties: expect.objectContaining({ phase: "production" }) }));
        expect(await groupsOfInstance(instance.instanceId)).toEqual([instance.productionSecurityGroupId]);

        // Later the instance reports a failed boot (e.g. its volume no longer unlocks), and a rescan runs.
        await ec2.send(
            new CreateTagsCommand({
                Resources: [instance.instanceId],
                Tags: [
                    { Key: "airlock:bootstrap", Value: "failure" },
                    { Key: "airlock:bootstrap-reason", Value: "luks: cannot unlock the data volume" },
                ],
            }),
        );
        tenable.setScript({ kind: "clean" });
        const rescanned = await host.update(urn, instance.instanceId, created.ok ? created.properties : {}, { ...inputs, rescanTrigger: "2026-11-22" });
        expect(rescanned).toEqual(
            expect.objectContaining({
                ok: false,
                message: `Instance web-1 stays in quarantine (remediation security group): bootstrap failed: luks: cannot unlock the data volume; ${BOOTSTRAP_FAILURE_WAY_OUT}`,
                partial: expect.objectContaining({ properties: expect.objectContaining({ phase: "remediation" }), reasons: [`Instance web-1 stays in quarantine (remediation security group): bootstrap failed: luks: cannot unlock the data volume; ${BOOTSTRAP_FAILURE_WAY_OUT}`] }),
            }),
        );
        expect(tenable.requests).toEqual([]);
        // What the emulator holds: out of production, with production rights only.
        expect(await groupsOfInstance(instance.instanceId)).toEqual([instance.remediationSecurityGroupId]);
        expect(await phasePolicyOfRole(instance.roleName)).toBe(inputs.productionPolicy);
    });

    it("fails closed when the scanner is down, and says why", async () => {
        const instance = await seedAirlockInstance(moto, { tags: { "airlock:bootstrap": "success" } });
        tenable.setScript({ kind: "http500", endpoint: "create" });
        const outcome = await host.create(dynamicUrn("web-1-promotion", TYPE), inputsFor(instance));
        expect(outcome.ok).toBe(false);
        expect(outcome.ok ? "" : outcome.message).toMatch(/^Instance web-1 stays in quarantine \(remediation security group\): Could not create the Tenable scan of [\d.]+: Tenable answered HTTP 500/);
        expect(await groupsOfInstance(instance.instanceId)).toEqual([instance.remediationSecurityGroupId]);
    });

    it("fails closed when the Tenable scan never completes, and the reason says so in readable words", async () => {
        const instance = await seedAirlockInstance(moto, { tags: { "airlock:bootstrap": "success" } });
        tenable.setScript({ kind: "running-for", polls: 1_000_000 });
        const outcome = await host.create(dynamicUrn("web-1-promotion", TYPE), inputsFor(instance, "web-1", { scanTimeoutSeconds: 2 }));
        expect(outcome.ok).toBe(false);
        if (outcome.ok) {
            return;
        }
        const reason = new RegExp(`^Instance web-1 stays in quarantine \\(remediation security group\\): Tenable scan 101 of ${instance.privateIp.replace(/\./g, "\\.")} did not complete within 2(\\.\\d)? s \\(last status "running", \\d+ polls\\)\\.$`);
        expect(outcome.partial?.reasons).toEqual([expect.stringMatching(reason)]);
        expect(outcome.partial?.properties).toEqual(expect.objectContaining({ phase: "remediation" }));
        expect(outcome.message).toMatch(/^Instance web-1 stays in quarantine \(remediation security group\): Tenable scan 101 of [\d.]+ did not complete within /);
        expect(outcome.message).not.toMatch(/\[object Object\]|scanner failed/);
        expect(JSON.stringify(outcome) + host.output()).not.toMatch(new RegExp(`${FAKE_KEYS.accessKey}|${FAKE_KEYS.secretKey}`));
        expect(await groupsOfInstance(instance.instanceId)).toEqual([instance.remediationSecurityGroupId]);
    });

    it("diff: replaces on a new instance, updates on a rescan trigger, ignores a new provider text", async () => {
        const instance = await seedAirlockInstance(moto);
        const urn = dynamicUrn("web-1-promotion", TYPE);
        const recorded = { ...inputsFor(instance), scanner: { kind: "tenable", url: tenable.url, templateUuid: "731a8e52-3ea6-a291-ec0a-d2ff0619c19d7bd788d6be818b65" }, phase: "production" };
        expect(await host.diff(urn, instance.instanceId, recorded, inputsFor(instance, "web-1", { instanceId: "i-0fffffffffffffff0" }))).toEqual(
            expect.objectContaining({ changes: "DIFF_SOME", replaces: ["instanceId"], deleteBeforeReplace: true }),
        );
        expect(await host.diff(urn, instance.instanceId, recorded, inputsFor(instance, "web-1", { rescanTrigger: "2026-11-22" }))).toEqual(
            expect.objectContaining({ changes: "DIFF_SOME", replaces: [] }),
        );
        expect(await host.diff(urn, instance.instanceId, recorded, inputsFor(instance))).toEqual(expect.objectContaining({ changes: "DIFF_NONE" }));
    });

    it("read refreshes the phase from the real groups and role policy", async () => {
        const instance = await seedAirlockInstance(moto, { tags: { "airlock:bootstrap": "success" } });
        const urn = dynamicUrn("web-1-promotion", TYPE);
        const created = await host.create(urn, inputsFor(instance));
        expect(created.ok).toBe(true);
        const properties = created.ok ? created.properties : {};
        expect((await host.read(urn, instance.instanceId, properties)).properties).toEqual(expect.objectContaining({ phase: "production" }));

        // Someone moves the instance back by hand: refresh must notice.
        await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: instance.instanceId, Groups: [instance.remediationSecurityGroupId] }));
        const refreshed = await host.read(urn, instance.instanceId, properties);
        expect(refreshed.properties).toEqual(
            expect.objectContaining({ phase: "remediation", reasons: ["found out of production on refresh (groups or role policy changed outside Airlock)"] }),
        );

        // The instance is terminated: the resource is gone.
        await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instance.instanceId] }));
        expect((await host.read(urn, instance.instanceId, properties)).id).toBe("");
    });

    it("read never upgrades a quarantined instance to production: one moved in by hand, or after a failed rescan, stays remediation until a scan passes", async () => {
        const instance = await seedAirlockInstance(moto, { tags: { "airlock:bootstrap": "success" } });
        const urn = dynamicUrn("web-1-promotion", TYPE);
        tenable.setScript({ kind: "findings", vulnerabilities: [{ plugin_id: 201194, plugin_name: "OpenSSH < 9.8p1 Remote Code Execution (regreSSHion)", severity: 4 }] });
        const inputs = inputsFor(instance);
        const blocked = await host.create(urn, inputs);
        const properties = blocked.ok ? {} : (blocked.partial?.properties ?? {});
        expect(properties.phase).toBe("remediation");

        // Someone moves it into production by hand, production policy and all.
        await iam.send(new PutRolePolicyCommand({ RoleName: instance.roleName, PolicyName: "airlock-phase", PolicyDocument: String(inputs.productionPolicy) }));
        await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: instance.instanceId, Groups: [instance.productionSecurityGroupId] }));
        const refreshed = await host.read(urn, instance.instanceId, properties);
        expect(refreshed.properties).toEqual(expect.objectContaining({ phase: "remediation", reasons: (properties as { reasons?: unknown }).reasons }));
        // …so the next up still sees a change and rescans it.
        expect(await host.diff(urn, instance.instanceId, refreshed.properties, inputs)).toEqual(expect.objectContaining({ changes: "DIFF_SOME" }));
    });

    it("delete removes the phase policy so the role can go, even when the instance is already gone", async () => {
        const instance = await seedAirlockInstance(moto, { tags: { "airlock:bootstrap": "success" } });
        const urn = dynamicUrn("web-1-promotion", TYPE);
        const created = await host.create(urn, inputsFor(instance));
        const properties = created.ok ? created.properties : {};
        expect(await phasePolicyOfRole(instance.roleName)).toBeDefined();
        await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instance.instanceId] }));
        await host.delete(urn, instance.instanceId, properties);
        expect(await phasePolicyOfRole(instance.roleName)).toBeUndefined();
        // Deleting again (a retried destroy) is fine.
        await host.delete(urn, instance.instanceId, properties);
    });

    it("launch rights are launch rights: the application's managed policies are attached only after the clean scan, after the production policy and before the production group", async () => {
        const instance = await seedAirlockInstance(moto);
        const app = await seedManagedPolicy(moto);
        const inputs = inputsFor(instance, "web-1", { managedPolicyArns: [app] });
        let heldAtBootstrap: string[] = ["not looked"];
        const signal = signalBootstrapSoon(instance).then(async () => {
            heldAtBootstrap = await attachedPoliciesOf(iam, instance.roleName);
        });
        const [outcome] = await Promise.all([host.create(dynamicUrn("web-1-promotion", TYPE), inputs), signal]);
        expect(outcome).toEqual(expect.objectContaining({ ok: true, properties: expect.objectContaining({ phase: "production", managedPolicyArns: [app] }) }));
        expect(heldAtBootstrap).toEqual([]);
        expect(await attachedPoliciesOf(iam, instance.roleName)).toEqual([app]);
        const mutations = (await moto.requests())
            .map((r) => r.action)
            .filter((a): a is string => a !== undefined && ["PutRolePolicy", "AttachRolePolicy", "DetachRolePolicy", "ModifyInstanceAttribute"].includes(a));
        expect(mutations).toEqual(["PutRolePolicy", "PutRolePolicy", "AttachRolePolicy", "ModifyInstanceAttribute"]);
    });

    it("a blocked scan leaves none attached; a demoted production instance loses them; delete detaches them so the role can be deleted", async () => {
        const instance = await seedAirlockInstance(moto, { tags: { "airlock:bootstrap": "success" } });
        const app = await seedManagedPolicy(moto);
        const inputs = inputsFor(instance, "web-1", { managedPolicyArns: [app] });
        const urn = dynamicUrn("web-1-promotion", TYPE);
        tenable.setScript({ kind: "findings", vulnerabilities: [{ plugin_id: 201194, plugin_name: "OpenSSH < 9.8p1 Remote Code Execution (regreSSHion)", severity: 4 }] });
        const blocked = await host.create(urn, inputs);
        expect(blocked.ok).toBe(false);
        expect(await attachedPoliciesOf(iam, instance.roleName)).toEqual([]);

        tenable.setScript({ kind: "clean" });
        const promoted = await host.update(urn, instance.instanceId, blocked.ok ? {} : (blocked.partial?.properties ?? {}), inputs);
        expect(promoted).toEqual(expect.objectContaining({ ok: true }));
        expect(await attachedPoliciesOf(iam, instance.roleName)).toEqual([app]);

        // A rescan that finds something demotes it: out of the production group, then no application rights.
        tenable.setScript({ kind: "findings", vulnerabilities: [{ plugin_id: 201194, plugin_name: "OpenSSH < 9.8p1 Remote Code Execution (regreSSHion)", severity: 4 }] });
        const demoted = await host.update(urn, instance.instanceId, promoted.ok ? promoted.properties : {}, { ...inputs, rescanTrigger: "2" });
        expect(demoted.ok).toBe(false);
        expect(await groupsOfInstance(instance.instanceId)).toEqual([instance.remediationSecurityGroupId]);
        expect(await attachedPoliciesOf(iam, instance.roleName)).toEqual([]);

        tenable.setScript({ kind: "clean" });
        const again = await host.update(urn, instance.instanceId, demoted.ok ? {} : (demoted.partial?.properties ?? {}), { ...inputs, rescanTrigger: "3" });
        expect(again).toEqual(expect.objectContaining({ ok: true }));
        expect(await attachedPoliciesOf(iam, instance.roleName)).toEqual([app]);
        await host.delete(urn, instance.instanceId, again.ok ? again.properties : {});
        expect(await attachedPoliciesOf(iam, instance.roleName)).toEqual([]);
        expect(await phasePolicyOfRole(instance.roleName)).toBeUndefined();
        await iam.send(new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: instance.instanceProfileName, RoleName: instance.roleName }));
        await iam.send(new DeleteRoleCommand({ RoleName: instance.roleName }));
    });

    it("runs 50 promotions in parallel through one host, each to completion", async () => {
        const instances = await Promise.all(
            Array.from({ length: 50 }, (_, i) => seedAirlockInstance(moto, { name: `app-${i}`, cidr: `10.${i}.0.0/16`, tags: { "airlock:bootstrap": "success" } })),
        );
        const outcomes = await Promise.all(instances.map((instance, i) => host.create(dynamicUrn(`app-${i}-promotion`, TYPE), inputsFor(instance, `app-${i}`))));
        expect(outcomes.map((o) => (o.ok ? o.properties.phase : o.message))).toEqual(Array(50).fill("production"));
        const groups = await Promise.all(instances.map((instance) => groupsOfInstance(instance.instanceId)));
        expect(groups).toEqual(instances.map((instance) => [instance.productionSecurityGroupId]));
    }, 120_000);
});
