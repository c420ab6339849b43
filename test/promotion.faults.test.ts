/**
 * Faults on the real path: Pulumi's provider host, the real SDK, moto behind a fault-injecting
 * proxy. AWS calls fail (throttling, 5xx, access denied) and the provider host is killed between
 * every pair of steps; after each, the emulator's state must satisfy the invariant, and a rerun
 * (what the next `pulumi up` does) must converge to production.
 */
import { EC2Client } from "@aws-sdk/client-ec2";
import { IAMClient } from "@aws-sdk/client-iam";
import { AwsFaultKind, FaultProxy, startFaultProxy } from "./support/faultProxy";
import { Moto, SeededInstance, awsClientConfig, seedAirlockInstance, seedManagedPolicy, startMoto } from "./support/moto";
import { ProviderHost, dynamicUrn, startProviderHost } from "./support/providerHost";
import { PROMOTION_TYPE, attachedPoliciesOf, groupsOf, invariantHolds, phasePolicyOf, PromotionProviderTexts, promotionInputs, serializePromotionProvider, signalBootstrapWhenAllowed } from "./support/promotionWorld";
import { TenableFake, startTenableFake } from "./support/tenableFake";

let moto: Moto;
let proxy: FaultProxy;
let tenable: TenableFake;
let providerText: PromotionProviderTexts;
let ec2: EC2Client;
let iam: IAMClient;
const hosts: ProviderHost[] = [];

beforeAll(async () => {
    [moto, tenable, providerText] = await Promise.all([startMoto(), startTenableFake(), serializePromotionProvider()]);
    proxy = await startFaultProxy(moto.endpoint);
    ec2 = new EC2Client(awsClientConfig(moto));
    iam = new IAMClient(awsClientConfig(moto));
}, 60_000);

afterAll(async () => {
    await Promise.all([...hosts.map((h) => h.stop()), proxy?.stop(), moto?.stop(), tenable?.stop()]);
});

let appPolicyArn: Promise<string> | undefined;
const appPolicy = (): Promise<string> => (appPolicyArn ??= seedManagedPolicy(moto));

beforeEach(async () => {
    await moto.reset();
    appPolicyArn = undefined;
    proxy.setRules([]);
    proxy.setCrash(undefined);
    proxy.calls.length = 0;
});

/** A provider host whose AWS traffic goes through the fault proxy, with few SDK attempts. */
async function newHost(): Promise<ProviderHost> {
    const host = await startProviderHost({ env: { ...moto.env, AWS_ENDPOINT_URL: proxy.endpoint, AIRLOCK_POLL_INITIAL_MS: "40", AWS_MAX_ATTEMPTS: "2" } });
    hosts.push(host);
    return host;
}

/** One promotion, with one application managed policy (seeded once per moto reset). */
async function promoteOnce(host: ProviderHost, instance: SeededInstance) {
    const app = await appPolicy();
    const inputs = promotionInputs(providerText, tenable.url, instance, "web-1", { managedPolicyArns: [app] });
    const signal = signalBootstrapWhenAllowed(ec2, iam, instance).catch(() => undefined);
    const outcome = await host.create(dynamicUrn("web-1-promotion", PROMOTION_TYPE), inputs).catch((err: unknown) => ({ ok: false as const, message: String(err) }));
    await Promise.race([signal, new Promise((resolve) => setTimeout(resolve, 200))]);
    return { outcome, inputs };
}

describe("the provider host is killed between two steps", () => {
    const points = [
        { action: "PutRolePolicy", nth: 1, when: "before" },
        { action: "PutRolePolicy", nth: 1, when: "after" },
        { action: "PutRolePolicy", nth: 2, when: "before" },
        { action: "PutRolePolicy", nth: 2, when: "after" },
        { action: "ListAttachedRolePolicies", nth: 1, when: "before" },
        { action: "ListAttachedRolePolicies", nth: 1, when: "after" },
        { action: "AttachRolePolicy", nth: 1, when: "before" },
        { action: "AttachRolePolicy", nth: 1, when: "after" },
        { action: "ModifyInstanceAttribute", nth: 1, when: "before" },
        { action: "ModifyInstanceAttribute", nth: 1, when: "after" },
    ] as const;

    it.each(points)("at $when $action #$nth: the invariant holds, and the next up converges", async (point) => {
        const instance = await seedAirlockInstance(moto);
        const doomed = await newHost();
        proxy.setCrash({ ...point, crash: () => process.kill(doomed.pid, "SIGKILL") });
        const first = await promoteOnce(doomed, instance);
        expect(first.outcome.ok).toBe(false);
        expect(await invariantHolds(ec2, iam, instance, first.inputs.productionPolicy as string)).toBe(true);

        // The next `pulumi up`: a fresh provider process, and create again (nothing was recorded).
        proxy.setCrash(undefined);
        const next = await newHost();
        const retry = await promoteOnce(next, instance);
        expect(retry.outcome).toEqual(expect.objectContaining({ ok: true }));
        expect(await groupsOf(ec2, instance.instanceId)).toEqual([instance.productionSecurityGroupId]);
        expect(await phasePolicyOf(iam, instance.roleName)).toBe(retry.inputs.productionPolicy);
        expect(await attachedPoliciesOf(iam, instance.roleName)).toEqual([await appPolicy()]);
        await Promise.all([doomed.stop(), next.stop()]);
    }, 60_000);
});

describe("AWS calls fail", () => {
    let host: ProviderHost;
    beforeAll(async () => {
        host = await newHost();
    });

    const cases: Array<[string, AwsFaultKind]> = ["DescribeInstances", "PutRolePolicy", "ListAttachedRolePolicies", "AttachRolePolicy", "ModifyInstanceAttribute"].flatMap((action) =>
        (["throttling", "5xx", "access-denied"] as const).map((fault): [string, AwsFaultKind] => [action, fault]),
    );

    it.each(cases)("%s failing with %s: recorded in remediation without breaking the invariant; converges once AWS recovers", async (action, fault) => {
        const instance = await seedAirlockInstance(moto, { tags: { "airlock:bootstrap": "success" } });
        proxy.setRules([{ action, fault }]);
        const first = await promoteOnce(host, instance);
        expect(first.outcome.ok).toBe(false);
        if (!first.outcome.ok && "partial" in first.outcome && first.outcome.partial !== undefined) {
            expect(first.outcome.partial.properties).toEqual(expect.objectContaining({ phase: "remediation" }));
            expect(first.outcome.partial.reasons[0]).toMatch(/^Instance web-1 was not promoted: promotion interrupted: /);
        }
        expect(proxy.calls.some((c) => c.action === action && c.faulted)).toBe(true);
        expect(await groupsOf(ec2, instance.instanceId)).not.toContain(instance.productionSecurityGroupId);
        expect(await invariantHolds(ec2, iam, instance, first.inputs.productionPolicy as string)).toBe(true);
        // Recorded in remediation: no application rights (the demotion detached any that were attached).
        if (action !== "ListAttachedRolePolicies") {
            expect(await attachedPoliciesOf(iam, instance.roleName)).toEqual([]);
        }

        proxy.setRules([]);
        const retry = await promoteOnce(host, instance);
        expect(retry.outcome).toEqual(expect.objectContaining({ ok: true }));
        expect(await groupsOf(ec2, instance.instanceId)).toEqual([instance.productionSecurityGroupId]);
        expect(await attachedPoliciesOf(iam, instance.roleName)).toEqual([await appPolicy()]);
    }, 60_000);

    it("a transient throttle is absorbed by the SDK's retries: one up promotes", async () => {
        const instance = await seedAirlockInstance(moto, { tags: { "airlock:bootstrap": "success" } });
        proxy.setRules([{ action: "ModifyInstanceAttribute", fault: "throttling", times: 1 }]);
        const { outcome } = await promoteOnce(host, instance);
        expect(outcome).toEqual(expect.objectContaining({ ok: true }));
        expect(proxy.calls.filter((c) => c.action === "ModifyInstanceAttribute").map((c) => c.faulted)).toEqual([true, false]);
    }, 60_000);

    it("delete tolerates a role whose phase policy is already gone, but reports access denied", async () => {
        const instance = await seedAirlockInstance(moto, { tags: { "airlock:bootstrap": "success" } });
        const { outcome, inputs } = await promoteOnce(host, instance);
        const properties = outcome.ok && "properties" in outcome ? outcome.properties : {};
        proxy.setRules([{ action: "DeleteRolePolicy", fault: "access-denied" }]);
        await expect(host.delete(dynamicUrn("web-1-promotion", PROMOTION_TYPE), instance.instanceId, properties)).rejects.toThrow(/not authorized|AccessDenied/);
        proxy.setRules([]);
        await host.delete(dynamicUrn("web-1-promotion", PROMOTION_TYPE), instance.instanceId, properties);
        await host.delete(dynamicUrn("web-1-promotion", PROMOTION_TYPE), instance.instanceId, properties);
        expect(await phasePolicyOf(iam, instance.roleName)).toBeUndefined();
        void inputs;
    }, 60_000);
});
