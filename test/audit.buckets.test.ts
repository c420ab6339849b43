/**
 * Public buckets: audit/bucketPolicy.ts publicGrants (pure, many policy shapes) and
 * audit/checks/publicBuckets.ts against moto 5.2.1.
 *
 * moto deviations met here, and how they are handled:
 * - GetBucketPolicyStatus answers an empty PolicyStatus (no IsPublic) for every bucket: the check
 *   uses S3's verdict as corroboration only, so the evidence says "unknown"; asserted as such.
 * - ListBuckets gives no BucketRegion: the check falls back to GetBucketLocation (asserted).
 * - S3 Control puts the account id in the host ({AccountId}.<endpoint>): the test's client factory
 *   points S3 Control at http://localhost:<port> and a middleware sends the request to 127.0.0.1
 *   (moto reads the account from the x-amz-account-id header). Test plumbing only.
 * - moto's canned ACL "public-read-write" grants AllUsers READ only: the test grants READ and WRITE
 *   explicitly (x-amz-grant-read / x-amz-grant-write).
 * - moto does not refuse a public policy while BlockPublicPolicy is on (AWS does); the tests put
 *   the policy first and the block after, which AWS allows too.
 */
import {
    CreateBucketCommand,
    PutBucketAclCommand,
    PutBucketPolicyCommand,
    PutPublicAccessBlockCommand,
    S3Client,
} from "@aws-sdk/client-s3";
import { PutPublicAccessBlockCommand as PutAccountPublicAccessBlockCommand, S3ControlClient } from "@aws-sdk/client-s3-control";
import { BucketPolicyError, narrowCidr, publicGrants } from "../audit/bucketPolicy";
import { publicBucketsCheck, regionOfLocation } from "../audit/checks/publicBuckets";
import type { CheckContext, ClientFactory, ClientSettings, CollectedBucket } from "../audit/checks/context";
import type { Finding } from "../audit/findings";
import type { Target } from "../audit/targets";
import { MOTO_ACCOUNT_ID, Moto, awsClientConfig, inMotoAccount, startMoto } from "./support/moto";

const doc = (...Statement: Record<string, unknown>[]) => ({ Version: "2012-10-17", Statement });
const allow = (extra: Record<string, unknown>) => ({ Effect: "Allow", Resource: "arn:aws:s3:::b/*", ...extra });

describe("publicGrants", () => {
    it("Principal \"*\" with no condition: public read", () => {
        expect(publicGrants(doc(allow({ Sid: "Web", Principal: "*", Action: "s3:GetObject" })))).toEqual([
            { statementSid: "Web", actions: ["s3:GetObject"], access: ["read"], reason: 'Allows read to Principal "*" with no condition.' },
        ]);
    });

    it('{"AWS": "*"} and {"AWS": [..., "*"]} are everyone; a JSON string is read too', () => {
        expect(publicGrants(JSON.stringify(doc(allow({ Principal: { AWS: "*" }, Action: ["s3:PutObject"] }))))).toEqual([
            { statementSid: "#0", actions: ["s3:PutObject"], access: ["write"], reason: 'Allows write to Principal {"AWS": "*"} with no condition.' },
        ]);
        expect(publicGrants(doc(allow({ Principal: { AWS: ["arn:aws:iam::111122223333:root", "*"] }, Action: "s3:*" })))[0]!.access).toEqual(["read", "write"]);
    });

    it("a single statement object (not a list) is read", () => {
        expect(publicGrants({ Version: "2012-10-17", Statement: allow({ Principal: "*", Action: "s3:ListBucket" }) })).toHaveLength(1);
    });

    it("named principals, service principals, Deny statements are not public grants", () => {
        expect(
            publicGrants(
                doc(
                    allow({ Principal: { AWS: "arn:aws:iam::111122223333:root" }, Action: "s3:*" }),
                    allow({ Principal: { Service: "cloudtrail.amazonaws.com" }, Action: "s3:PutObject" }),
                    { Effect: "Deny", Principal: "*", Action: "s3:*", Resource: "*", Condition: { Bool: { "aws:SecureTransport": "false" } } },
                ),
            ),
        ).toEqual([]);
    });

    it("NotPrincipal with Allow is everyone but a few; NotAction with Allow is everything but a few", () => {
        const [g] = publicGrants(doc(allow({ NotPrincipal: { AWS: "arn:aws:iam::111122223333:root" }, NotAction: "s3:DeleteBucket" })));
        expect(g).toEqual({
            statementSid: "#0",
            actions: ["NotAction: s3:DeleteBucket"],
            access: ["read", "write"],
            reason: "Allows read and write to everyone but the principals NotPrincipal names with no condition.",
        });
    });

    it("wildcard actions: '*', 's3:Get*', 's3:Put*', 's3:*Object' are matched; actions that expose nothing are not grants", () => {
        expect(publicGrants(doc(allow({ Principal: "*", Action: "*" })))[0]!.access).toEqual(["read", "write"]);
        expect(publicGrants(doc(allow({ Principal: "*", Action: "s3:Get*" })))[0]!.access).toEqual(["read"]);
        expect(publicGrants(doc(allow({ Principal: "*", Action: "s3:Put*" })))[0]!.access).toEqual(["write"]);
        expect(publicGrants(doc(allow({ Principal: "*", Action: "s3:*Object" })))[0]!.access).toEqual(["read", "write"]);
        expect(publicGrants(doc(allow({ Principal: "*", Action: "S3:GETOBJECT" })))[0]!.access).toEqual(["read"]);
        expect(publicGrants(doc(allow({ Principal: "*", Action: "sqs:SendMessage" })))).toEqual([]);
    });

    it.each([
        ["aws:SourceVpce", { StringEquals: { "aws:SourceVpce": "vpce-1a2b3c4d" } }],
        ["aws:SourceVpc", { StringEquals: { "aws:SourceVpc": ["vpc-111", "vpc-222"] } }],
        ["aws:PrincipalOrgID", { StringEquals: { "aws:PrincipalOrgID": "o-abc123" } }],
        ["aws:PrincipalAccount", { StringEquals: { "aws:PrincipalAccount": "111122223333" } }],
        ["aws:PrincipalArn", { ArnEquals: { "aws:PrincipalArn": "arn:aws:iam::111122223333:role/reader" } }],
        ["aws:SourceAccount", { StringEquals: { "aws:SourceAccount": "111122223333" } }],
        ["aws:SourceArn", { ArnLike: { "aws:SourceArn": "arn:aws:cloudtrail:eu-west-1:111122223333:trail/main" } }],
        ["aws:SourceIp /24", { IpAddress: { "aws:SourceIp": "203.0.113.0/24" } }],
        ["aws:SourceIp bare address and IPv6 /48", { IpAddress: { "aws:SourceIp": ["203.0.113.7", "2001:db8:1::/48"] } }],
        ["aws:userid of a role's sessions", { StringLike: { "aws:userid": "AROAEXAMPLEID:*" } }],
        ["key names ignore case", { stringequals: { "AWS:SOURCEVPCE": "vpce-1a2b3c4d" } }],
        ["ForAnyValue:", { "ForAnyValue:StringEquals": { "aws:PrincipalOrgPaths": "o-abc/r-1/ou-2/" } }],
        ["one restricting among others", { Bool: { "aws:SecureTransport": "true" }, StringEquals: { "aws:SourceVpce": "vpce-1" } }],
    ])("restricted by %s: not public", (_name, Condition) => {
        expect(publicGrants(doc(allow({ Principal: "*", Action: "s3:GetObject", Condition })))).toEqual([]);
    });

    it.each([
        ["aws:SourceIp 0.0.0.0/0", { IpAddress: { "aws:SourceIp": "0.0.0.0/0" } }],
        ["aws:SourceIp ::/0", { IpAddress: { "aws:SourceIp": "::/0" } }],
        ["aws:SourceIp with one /0 among narrow ones", { IpAddress: { "aws:SourceIp": ["203.0.113.0/24", "0.0.0.0/0"] } }],
        ["aws:SourceIp /4", { IpAddress: { "aws:SourceIp": "16.0.0.0/4" } }],
        ["NotIpAddress", { NotIpAddress: { "aws:SourceIp": "203.0.113.0/24" } }],
        ["StringNotEquals", { StringNotEquals: { "aws:PrincipalOrgID": "o-abc123" } }],
        ["a wildcard value", { StringLike: { "aws:PrincipalOrgID": "o-*" } }],
        ["a policy variable", { StringEquals: { "aws:SourceAccount": "${aws:PrincipalAccount}" } }],
        ["…IfExists", { StringEqualsIfExists: { "aws:SourceVpce": "vpce-1" } }],
        ["ForAllValues:", { "ForAllValues:StringEquals": { "aws:SourceVpce": "vpce-1" } }],
        ["Null", { Null: { "aws:SourceVpce": "false" } }],
        ["an unrelated key", { Bool: { "aws:SecureTransport": "true" } }],
        ["aws:Referer (spoofable)", { StringLike: { "aws:Referer": "https://example.com/*" } }],
    ])("not restricted by %s: public", (_name, Condition) => {
        const grants = publicGrants(doc(allow({ Principal: "*", Action: "s3:GetObject", Condition })));
        expect(grants).toHaveLength(1);
        expect(grants[0]!.reason).toMatch(/^Allows read to Principal "\*" with no restricting condition \(.+ do not limit who can call\)\.$/);
    });

    it("every public statement is listed, by Sid or index", () => {
        const grants = publicGrants(doc(allow({ Sid: "A", Principal: "*", Action: "s3:GetObject" }), allow({ Principal: { AWS: "arn:aws:iam::1:root" }, Action: "s3:*" }), allow({ Principal: "*", Action: "s3:DeleteObject" })));
        expect(grants.map((g) => [g.statementSid, g.access])).toEqual([
            ["A", ["read"]],
            ["#2", ["write"]],
        ]);
    });

    it("what is not a policy is an error, not 'no grants'", () => {
        expect(() => publicGrants("{not json")).toThrow(BucketPolicyError);
        expect(() => publicGrants("[]")).toThrow(BucketPolicyError);
        expect(() => publicGrants(doc("x" as never))).toThrow(/Statement #0 is not an object/);
        expect(() => publicGrants({ Version: "2012-10-17" })).toThrow(/no Statement/);
    });

    it("narrowCidr and regionOfLocation", () => {
        expect(["10.0.0.0/8", "203.0.113.7", "2001:db8::/32"].map(narrowCidr)).toEqual([true, true, true]);
        expect(["10.0.0.0/7", "0.0.0.0/0", "2001:db8::/31", "nonsense", "10.0.0.0/33", 5].map(narrowCidr)).toEqual([false, false, false, false, false, false]);
        expect([undefined, "", "EU", "eu-west-2"].map(regionOfLocation)).toEqual(["us-east-1", "us-east-1", "eu-west-1", "eu-west-2"]);
    });
});

describe("publicBucketsCheck against moto", () => {
    const R1 = "eu-west-1";
    let moto: Moto;
    const OTHER = "222222222222";

    const withAccount = inMotoAccount;

    /** S3 Control through moto: see the file's header. */
    function control(accountId?: string): S3ControlClient {
        const base = awsClientConfig(moto);
        const c = withAccount(new S3ControlClient({ ...base, endpoint: moto.endpoint.replace("127.0.0.1", "localhost") }), accountId);
        c.middlewareStack.add(
            (next) => async (args) => {
                (args.request as { hostname: string }).hostname = "127.0.0.1";
                return next(args);
            },
            { step: "finalizeRequest", name: "motoS3ControlHost" },
        );
        return c;
    }

    function context(accountId: string, regions: string[]): CheckContext {
        const cache = new Map<string, unknown>();
        const clients: ClientFactory = {
            make<C>(ctor: new (config: ClientSettings) => C, region: string): C {
                const key = `${ctor.name}/${region}`;
                if (!cache.has(key)) {
                    const base = awsClientConfig(moto);
                    const settings: ClientSettings = { ...base, region, retryMode: "standard", credentials: async () => base.credentials };
                    cache.set(key, (ctor as unknown) === S3ControlClient ? control(accountId === MOTO_ACCOUNT_ID ? undefined : accountId) : withAccount(new ctor(settings), accountId === MOTO_ACCOUNT_ID ? undefined : accountId));
                }
                return cache.get(key) as C;
            },
        };
        const target: Target = { name: "acme", format: "airlock", credentials: { kind: "profile", profile: "acme" }, regions, checks: ["public-buckets"], policies: [], configRules: [], ignoreUsers: [], stackOutputs: [] };
        return { target, accountId, partition: "aws", regions, clients, fix: false, managedInstanceIds: new Set(), unusedDays: 90, now: () => new Date() };
    }

    const publicRead = (bucket: string, extra: Record<string, unknown> = {}) =>
        JSON.stringify(doc({ Sid: "Public", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `arn:aws:s3:::${bucket}/*`, ...extra }));
    const ALL_ON = { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true };

    beforeAll(async () => {
        moto = await startMoto();
        const s3 = new S3Client(awsClientConfig(moto));
        const make = async (client: S3Client, name: string, region = R1) =>
            client.send(new CreateBucketCommand({ Bucket: name, ...(region === "us-east-1" ? {} : { CreateBucketConfiguration: { LocationConstraint: region as never } }) }));
        await make(s3, "acme-public-policy");
        await s3.send(new PutBucketPolicyCommand({ Bucket: "acme-public-policy", Policy: publicRead("acme-public-policy") }));
        await make(s3, "acme-public-acl");
        // Grants spelled out: moto's canned "public-read-write" grants AllUsers READ only (AWS: READ and WRITE).
        const everyone = 'uri="http://acs.amazonaws.com/groups/global/AllUsers"';
        await s3.send(new PutBucketAclCommand({ Bucket: "acme-public-acl", GrantRead: everyone, GrantWrite: everyone }));
        await make(s3, "acme-private");
        await s3.send(new PutPublicAccessBlockCommand({ Bucket: "acme-private", PublicAccessBlockConfiguration: ALL_ON }));
        await make(s3, "acme-block-public-policy");
        await s3.send(new PutBucketPolicyCommand({ Bucket: "acme-block-public-policy", Policy: publicRead("acme-block-public-policy") }));
        await s3.send(new PutPublicAccessBlockCommand({ Bucket: "acme-block-public-policy", PublicAccessBlockConfiguration: { BlockPublicPolicy: true } }));
        await make(s3, "acme-restrict-public");
        await s3.send(new PutBucketPolicyCommand({ Bucket: "acme-restrict-public", Policy: publicRead("acme-restrict-public") }));
        await s3.send(new PutPublicAccessBlockCommand({ Bucket: "acme-restrict-public", PublicAccessBlockConfiguration: { RestrictPublicBuckets: true } }));
        await make(s3, "acme-vpce-only");
        await s3.send(new PutBucketPolicyCommand({ Bucket: "acme-vpce-only", Policy: publicRead("acme-vpce-only", { Condition: { StringEquals: { "aws:SourceVpce": "vpce-1a2b3c4d" } } }) }));
        // Outside the target's regions: never looked at.
        const east = new S3Client({ ...awsClientConfig(moto), region: "us-east-1" });
        await make(east, "acme-elsewhere", "us-east-1");
        await east.send(new PutBucketAclCommand({ Bucket: "acme-elsewhere", ACL: "public-read" }));
        east.destroy();
        s3.destroy();

        // Another account: every account-level setting on, a public policy and a public ACL.
        const other = withAccount(new S3Client(awsClientConfig(moto)), OTHER);
        await make(other, "other-public");
        await other.send(new PutBucketPolicyCommand({ Bucket: "other-public", Policy: publicRead("other-public") }));
        await other.send(new PutBucketAclCommand({ Bucket: "other-public", ACL: "public-read" }));
        other.destroy();
        const c = control(OTHER);
        await c.send(new PutAccountPublicAccessBlockCommand({ AccountId: OTHER, PublicAccessBlockConfiguration: ALL_ON }));
        c.destroy();
    }, 120_000);

    afterAll(async () => {
        await moto?.stop();
    });

    const statusOf = (findings: Finding[]) => findings.map((f) => [f.resource, f.status, f.severity, f.title]);
    const arn = (b: string) => `arn:aws:s3:::${b}`;
    const off4 = { BlockPublicAcls: false, IgnorePublicAcls: false, BlockPublicPolicy: false, RestrictPublicBuckets: false };

    it("account A: public by policy and by ACL fail, the condition-restricted and the private bucket pass, BlockPublicPolicy does not neutralise, RestrictPublicBuckets does", async () => {
        const findings = await publicBucketsCheck(context(MOTO_ACCOUNT_ID, [R1]));
        expect(statusOf(findings)).toEqual([
            [MOTO_ACCOUNT_ID, "fail", "medium", "Account public access block"],
            [arn("acme-block-public-policy"), "fail", "low", "Bucket acme-block-public-policy public access block"],
            [arn("acme-block-public-policy"), "fail", "high", "Bucket acme-block-public-policy policy"],
            [arn("acme-block-public-policy"), "pass", "informational", "Bucket acme-block-public-policy ACL"],
            [arn("acme-private"), "pass", "informational", "Bucket acme-private public access block"],
            [arn("acme-private"), "pass", "informational", "Bucket acme-private policy"],
            [arn("acme-private"), "pass", "informational", "Bucket acme-private ACL"],
            [arn("acme-public-acl"), "fail", "low", "Bucket acme-public-acl public access block"],
            [arn("acme-public-acl"), "pass", "informational", "Bucket acme-public-acl policy"],
            [arn("acme-public-acl"), "fail", "critical", "Bucket acme-public-acl ACL"],
            [arn("acme-public-policy"), "fail", "low", "Bucket acme-public-policy public access block"],
            [arn("acme-public-policy"), "fail", "high", "Bucket acme-public-policy policy"],
            [arn("acme-public-policy"), "pass", "informational", "Bucket acme-public-policy ACL"],
            [arn("acme-restrict-public"), "fail", "low", "Bucket acme-restrict-public public access block"],
            [arn("acme-restrict-public"), "pass", "informational", "Bucket acme-restrict-public policy"],
            [arn("acme-restrict-public"), "pass", "informational", "Bucket acme-restrict-public ACL"],
            [arn("acme-vpce-only"), "fail", "low", "Bucket acme-vpce-only public access block"],
            [arn("acme-vpce-only"), "pass", "informational", "Bucket acme-vpce-only policy"],
            [arn("acme-vpce-only"), "pass", "informational", "Bucket acme-vpce-only ACL"],
        ]);
        const by = (title: string) => findings.find((f) => f.title === title)!;
        expect(by("Account public access block")).toEqual({
            target: "acme",
            accountId: MOTO_ACCOUNT_ID,
            region: "global",
            check: "public-buckets",
            resource: MOTO_ACCOUNT_ID,
            status: "fail",
            severity: "medium",
            title: "Account public access block",
            evidence: { ...off4, off: ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"] },
        });
        const grant = { statementSid: "Public", actions: ["s3:GetObject"], access: ["read"], reason: 'Allows read to Principal "*" with no condition.' };
        expect(by("Bucket acme-public-policy policy")).toEqual({
            target: "acme",
            accountId: MOTO_ACCOUNT_ID,
            region: R1,
            check: "public-buckets",
            resource: arn("acme-public-policy"),
            status: "fail",
            severity: "high",
            title: "Bucket acme-public-policy policy",
            // moto's GetBucketPolicyStatus has no IsPublic: "unknown" (corroboration only).
            evidence: { publicGrants: [grant], s3PolicyStatusIsPublic: "unknown" },
        });
        expect(by("Bucket acme-block-public-policy policy").evidence).toEqual({
            publicGrants: [grant],
            s3PolicyStatusIsPublic: "unknown",
            note: "BlockPublicPolicy (bucket) is on, but it only refuses new public policies: this one stays in effect until RestrictPublicBuckets is on or the policy changes.",
        });
        expect(by("Bucket acme-restrict-public policy").evidence).toEqual({
            publicGrants: [grant],
            s3PolicyStatusIsPublic: "unknown",
            neutralisedBy: "RestrictPublicBuckets (bucket)",
            note: "S3 limits this public policy to the bucket owner's account and AWS services while RestrictPublicBuckets is on.",
        });
        expect(by("Bucket acme-vpce-only policy").evidence).toEqual({ publicGrants: [], s3PolicyStatusIsPublic: "unknown" });
        expect(by("Bucket acme-public-acl ACL").evidence).toEqual({
            publicGrants: [
                { grantee: "AllUsers", permission: "READ" },
                { grantee: "AllUsers", permission: "WRITE" },
            ],
        });
        expect(by("Bucket acme-private public access block").evidence).toEqual({ bucket: ALL_ON, account: off4, effective: ALL_ON });
        expect(findings.some((f) => f.resource === arn("acme-elsewhere"))).toBe(false);
    });

    it("what it saw is collected for the records database: every bucket of the regions, public only where S3 does not neutralise it", async () => {
        const collected: { buckets: readonly CollectedBucket[]; regions: readonly string[] }[] = [];
        const ignore = (): void => undefined;
        const ctx = { ...context(MOTO_ACCOUNT_ID, [R1]), collect: { iam: ignore, credentialReport: ignore, instances: ignore, buckets: (buckets: readonly CollectedBucket[], regions: readonly string[]) => collected.push({ buckets, regions }) } };
        await publicBucketsCheck(ctx);
        expect(collected).toHaveLength(1);
        expect(collected[0]?.regions).toEqual([R1]);
        const row = (b: CollectedBucket) => [b.name, b.region, b.policyPublic, b.aclPublic, b.bucketBlock?.RestrictPublicBuckets ?? null, b.accountBlock?.BlockPublicAcls ?? null];
        expect(collected[0]?.buckets.map(row)).toEqual([
            ["acme-block-public-policy", R1, true, false, false, false],
            ["acme-private", R1, false, false, true, false],
            ["acme-public-acl", R1, false, true, false, false],
            ["acme-public-policy", R1, true, false, false, false],
            ["acme-restrict-public", R1, false, false, true, false],
            ["acme-vpce-only", R1, false, false, false, false],
        ]);
        expect(collected[0]?.buckets.find((b) => b.name === "acme-private")?.bucketBlock).toEqual(ALL_ON);
    });

    it("with us-east-1 among the regions, the bucket there is checked too (its region from GetBucketLocation)", async () => {
        const findings = await publicBucketsCheck(context(MOTO_ACCOUNT_ID, [R1, "us-east-1"]));
        expect(findings.filter((f) => f.resource === arn("acme-elsewhere")).map((f) => [f.region, f.status, f.severity, f.title])).toEqual([
            ["us-east-1", "fail", "low", "Bucket acme-elsewhere public access block"],
            ["us-east-1", "pass", "informational", "Bucket acme-elsewhere policy"],
            ["us-east-1", "fail", "high", "Bucket acme-elsewhere ACL"],
        ]);
    });

    it("account B (x-moto-account-id): the account's block neutralises the public policy and ACL; every finding passes", async () => {
        const findings = await publicBucketsCheck(context(OTHER, [R1]));
        expect(statusOf(findings)).toEqual([
            [OTHER, "pass", "informational", "Account public access block"],
            [arn("other-public"), "pass", "informational", "Bucket other-public public access block"],
            [arn("other-public"), "pass", "informational", "Bucket other-public policy"],
            [arn("other-public"), "pass", "informational", "Bucket other-public ACL"],
        ]);
        expect(findings[2]!.evidence).toMatchObject({ neutralisedBy: "RestrictPublicBuckets (account)" });
        expect(findings[3]!.evidence).toEqual({
            publicGrants: [{ grantee: "AllUsers", permission: "READ" }],
            neutralisedBy: "IgnorePublicAcls (account)",
            note: "S3 ignores these grants while IgnorePublicAcls is on.",
        });
        expect(findings.every((f) => f.accountId === OTHER)).toBe(true);
    });
});

describe("emulatorFriendly (S3 Control through an emulator reached by IP or localhost)", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { emulatorFriendly } = require("../audit/checks/publicBuckets") as typeof import("../audit/checks/publicBuckets");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { S3ControlClient } = require("@aws-sdk/client-s3-control") as typeof import("@aws-sdk/client-s3-control");
    const providerOf = (c: InstanceType<typeof S3ControlClient>) => (c.config as unknown as { endpointProvider: (p: unknown) => { url: URL } }).endpointProvider;
    const make = () => new S3ControlClient({ region: "eu-west-1", credentials: { accessKeyId: "a", secretAccessKey: "b" } });

    it.each(["http://127.0.0.1:5000", "http://localhost:4566", "http://[::1]:5000"])("sends the client to %s as given", (endpoint) => {
        const client = emulatorFriendly(make(), { AWS_ENDPOINT_URL: endpoint });
        expect(providerOf(client)({ AccountId: "222222222222" }).url.href).toBe(new URL(endpoint).href);
        client.destroy();
    });

    it.each<[string, Record<string, string>]>([
        ["no endpoint override (real AWS)", {}],
        ["a named endpoint (a VPC endpoint, a proxy by name)", { AWS_ENDPOINT_URL: "https://s3-control.internal.example" }],
    ])("leaves the account prefix alone with %s", (_what, env) => {
        const client = make();
        const before = providerOf(client);
        expect(providerOf(emulatorFriendly(client, env))).toBe(before);
        client.destroy();
    });
});

describe("publicGrants, from the audit's review", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { publicGrants: grants, BucketPolicyError: PolicyError } = require("../audit/bucketPolicy") as typeof import("../audit/bucketPolicy");
    const allow = (action: unknown, extra: Record<string, unknown> = {}) => ({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: "*", Action: action, Resource: "*", ...extra }] });
    const accessOf = (doc: unknown) => grants(doc).flatMap((g) => g.access).sort();

    it.each<[string, unknown, string[]]>([
        ["s3:PutLifecycleConfiguration (deletes every object)", "s3:PutLifecycleConfiguration", ["write"]],
        ["s3:PutBucketWebsite", "s3:PutBucketWebsite", ["write"]],
        ["s3:PutReplicationConfiguration", "s3:PutReplicationConfiguration", ["write"]],
        ["s3:DeleteObjectTagging", "s3:DeleteObjectTagging", ["write"]],
        ["s3:GetObjectTagging", "s3:GetObjectTagging", ["read"]],
        ["s3:GetObjectAttributes", "s3:GetObjectAttributes", ["read"]],
        ["s3:ListBucketMultipartUploads", "s3:ListBucketMultipartUploads", ["read"]],
        ["s3:Get*", "s3:Get*", ["read"]],
        ["s3:Put*", "s3:Put*", ["write"]],
        ["s3:*Object", "s3:*Object", ["read", "write"]],
        ["*", "*", ["read", "write"]],
        ["s3:G*", "s3:G*", ["read"]],
        ["another service's action only", "sqs:SendMessage", []],
    ])("an Allow to everyone of %s is public", (_what, action, expected) => {
        expect(accessOf(allow(action))).toEqual(expected);
    });

    it("an Allow to everyone with NotAction is public read and write, whatever it names", () => {
        expect(accessOf({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: "*", NotAction: ["s3:Get*", "s3:List*", "s3:Put*", "s3:Delete*", "s3:Abort*", "s3:Restore*"], Resource: "*" }] })).toEqual([
            "read",
            "write",
        ]);
    });

    it("many narrow source ranges that cover the internet together do not restrict", () => {
        const everyEight = Array.from({ length: 256 }, (_, i) => `${i}.0.0.0/8`);
        expect(accessOf(allow("s3:GetObject", { Condition: { IpAddress: { "aws:SourceIp": everyEight } } }))).toEqual(["read"]);
        expect(accessOf(allow("s3:GetObject", { Condition: { IpAddress: { "aws:SourceIp": ["10.0.0.0/8"] } } }))).toEqual([]);
    });

    it("a policy without Statement is not a policy S3 stores: an error, never a pass", () => {
        expect(() => grants({ Version: "2012-10-17" })).toThrow(PolicyError);
    });
});
