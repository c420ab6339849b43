/**
 * Scan-and-promote figures, printed as a table (run by `npm run bench`):
 *  1. AWS API calls per promotion, polls excluded, as moto recorded them;
 *  2. polls spent while a Tenable scan runs for 10 minutes (default backoff, virtual clock);
 *  3. provider overhead beyond the scanner's own time, as a ratio (through the provider host);
 *  4. 50 concurrent promotions through one host: wall time as a ratio to one promotion.
 */
import { CreateTagsCommand, EC2Client } from "@aws-sdk/client-ec2";
import { tenableScanner } from "../providers/scanners/tenable";
import { ScanContext } from "../providers/scanners/types";
import { VirtualClock } from "../test/support/fakeAws";
import { Moto, SeededInstance, awsClientConfig, seedAirlockInstance, startMoto } from "../test/support/moto";
import { ProviderHost, dynamicUrn, startProviderHost } from "../test/support/providerHost";
import { PROMOTION_TYPE, TEMPLATE_UUID, PromotionProviderTexts, promotionInputs, serializePromotionProvider } from "../test/support/promotionWorld";
import { FAKE_KEYS, TenableFake, startTenableFake } from "../test/support/tenableFake";
import { median } from "./stats";

const POLL_MS = 200;

async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
    const started = process.hrtime.bigint();
    const value = await f();
    return { ms: Number(process.hrtime.bigint() - started) / 1e6, value };
}

async function seedBootstrapped(moto: Moto, name: string, index: number): Promise<SeededInstance> {
    const instance = await seedAirlockInstance(moto, { name, cidr: `10.${index % 250}.0.0/16` });
    await new EC2Client(awsClientConfig(moto)).send(
        new CreateTagsCommand({ Resources: [instance.instanceId], Tags: [{ Key: "airlock:bootstrap", Value: "success" }] }),
    );
    return instance;
}

async function apiCallsPerPromotion(moto: Moto, host: ProviderHost, providerText: PromotionProviderTexts, tenable: TenableFake): Promise<void> {
    const seeded = await seedAirlockInstance(moto);
    // Only what the promotion itself sends counts, not the seeding.
    const before = (await moto.requests()).length;
    const signal = (async () => {
        const ec2 = new EC2Client(awsClientConfig(moto));
        await new Promise((resolve) => setTimeout(resolve, 300));
        await ec2.send(new CreateTagsCommand({ Resources: [seeded.instanceId], Tags: [{ Key: "airlock:bootstrap", Value: "success" }] }));
    })();
    const outcome = await host.create(dynamicUrn("bench-promotion", PROMOTION_TYPE), promotionInputs(providerText, tenable.url, seeded));
    await signal;
    if (!outcome.ok) {
        throw new Error(outcome.message);
    }
    // CreateTags is the instance's own bootstrap signal (played by this script), not the provider's.
    const calls = (await moto.requests())
        .slice(before)
        .map((r) => r.action ?? r.service ?? "?")
        .filter((a) => a !== "CreateTags");
    const byAction = new Map<string, number>();
    for (const action of calls) {
        byAction.set(action, (byAction.get(action) ?? 0) + 1);
    }
    // DescribeInstances: one to start, one before the scan; the rest are readiness polls.
    const describes = byAction.get("DescribeInstances") ?? 0;
    const nonPoll = calls.length - Math.max(0, describes - 2);
    console.log(`1. AWS API calls per promotion (polls excluded): ${nonPoll}`);
    for (const [action, n] of [...byAction].sort()) {
        console.log(`   ${action.padEnd(26)} ${n}${action === "DescribeInstances" ? ` (${Math.max(0, describes - 2)} of them readiness polls)` : ""}`);
    }
}

async function pollsOverTenMinuteScan(tenable: TenableFake): Promise<void> {
    tenable.setScript({ kind: "running-for", polls: 1_000_000 });
    const clock = new VirtualClock();
    const context: ScanContext = {
        target: { instanceId: "i-0123456789abcdef0", instanceArn: "arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0", privateIp: "10.0.0.5", region: "eu-west-1", accountId: "123456789012" },
        deadline: clock.now() + 10 * 60_000,
        log: () => undefined,
        sleep: (ms) => clock.sleep(ms),
        now: () => clock.now(),
        random: () => Math.random(),
    };
    await tenableScanner({ url: tenable.url, ...FAKE_KEYS, templateUuid: TEMPLATE_UUID })
        .scan(context)
        .catch(() => undefined);
    console.log(`2. Tenable polls during a 10-minute scan (5 s doubling to 60 s, jittered): ${tenable.requestsTo("details").length}`);
}

async function overheadRatio(moto: Moto, host: ProviderHost, providerText: PromotionProviderTexts, tenable: TenableFake): Promise<void> {
    const ratios: number[] = [];
    const scans: number[] = [];
    const totals: number[] = [];
    for (let run = 0; run < 5; run++) {
        tenable.setScript({ kind: "running-for", polls: 5 });
        const instance = await seedBootstrapped(moto, `overhead-${run}`, 100 + run);
        const { ms, value } = await timed(() => host.create(dynamicUrn(`overhead-${run}`, PROMOTION_TYPE), promotionInputs(providerText, tenable.url, instance, `overhead-${run}`)));
        if (!value.ok) {
            throw new Error(value.message);
        }
        // The scan's own time, measured inside the provider; the wall time includes the host and gRPC.
        const scanMs = (value.properties.durations as { scanMs: number }).scanMs;
        ratios.push(ms / scanMs);
        scans.push(scanMs);
        totals.push(ms);
    }
    console.log(
        `3. Promotion wall time (through the host) / the scan's own time: median ${median(ratios).toFixed(3)} ` +
            `(scan ${median(scans).toFixed(0)} ms, promotion ${median(totals).toFixed(0)} ms; min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)})`,
    );
}

async function concurrency(moto: Moto, host: ProviderHost, providerText: PromotionProviderTexts, tenable: TenableFake): Promise<void> {
    tenable.setScript({ kind: "running-for", polls: 3 });
    const single = await seedBootstrapped(moto, "solo", 200);
    const one = await timed(() => host.create(dynamicUrn("solo", PROMOTION_TYPE), promotionInputs(providerText, tenable.url, single, "solo")));
    const instances: SeededInstance[] = [];
    for (let i = 0; i < 50; i++) {
        instances.push(await seedBootstrapped(moto, `app-${i}`, i));
    }
    const fifty = await timed(() =>
        Promise.all(instances.map((instance, i) => host.create(dynamicUrn(`app-${i}`, PROMOTION_TYPE), promotionInputs(providerText, tenable.url, instance, `app-${i}`)))),
    );
    const promoted = fifty.value.filter((o) => o.ok).length;
    console.log(
        `4. 50 concurrent promotions through one host: ${fifty.ms.toFixed(0)} ms vs one: ${one.ms.toFixed(0)} ms → ratio ${(fifty.ms / one.ms).toFixed(2)} (${promoted}/50 promoted)`,
    );
}

async function main(): Promise<void> {
    const [moto, tenable, providerText] = await Promise.all([startMoto(), startTenableFake(), serializePromotionProvider()]);
    const host = await startProviderHost({ env: { ...moto.env, AIRLOCK_POLL_INITIAL_MS: String(POLL_MS) } });
    try {
        await apiCallsPerPromotion(moto, host, providerText, tenable);
        await pollsOverTenMinuteScan(tenable);
        await overheadRatio(moto, host, providerText, tenable);
        await concurrency(moto, host, providerText, tenable);
    } finally {
        await Promise.all([host.stop(), moto.stop(), tenable.stop()]);
    }
}

main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
});
