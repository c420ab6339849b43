/**
 * Misuse findings from CloudTrail events (audit/records/cloudtrail/detect.ts), table-driven: each
 * finding raised from the events that mean it, and each benign look-alike — its own case — raising
 * nothing. Events are built as CloudTrail writes them (test/support/cloudtrailLogs.ts) and read
 * through the parser (trailRowOf), so detection sees exactly what ingestion stores.
 */
import { burstsOf, canonicalIp, detectActivity, isPulumiAwsAgent, type ActivityContext } from "../audit/records/cloudtrail/detect";
import { trailRowOf, type TrailEventRow } from "../audit/records/cloudtrail/events";
import { airlockInstance, apiCall, assumedRole, awsService, consoleLogin, iamUser, root, type TrailRecord } from "./support/cloudtrailLogs";

const ACCOUNT = "123456789012";
const INSTANCE = "i-0a1b2c3d4e5f60718";
const OTHER_INSTANCE = "i-0fedcba9876543210";
const ENDPOINT = "vpce-0a1b2c3d4e5f60718";
const BUCKET = "airlock-vault-keys-5d1f0a2";
const KEY_ID = "6f0a2b9c-1d3e-4f5a-8b7c-9d0e1f2a3b4c";
const KEY_ARN = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/${KEY_ID}`;
const SG = "sg-0aaaaaaaaaaaaaaa1";
const PULUMI_AGENT =
    "APN/1.0 Pulumi/1.0 Pulumi-Aws/7.48.0 (+https://pulumi.com) aws-sdk-go-v2/1.36.3 ua/2.1 os/linux lang/go#1.24.2 md/GOOS#linux md/GOARCH#amd64 api/s3#1.79.2 m/E,g APN/1.1 (c7qiae2l6usvzoynupds6v7hf)";
const CONSOLE_AGENT = "AWS Internal";
const CLI_AGENT = "aws-cli/2.27.49 md/awscrt#0.26.1 ua/2.1 os/linux#6.1.0-37-amd64 md/arch#x86_64 lang/python#3.13.4 md/command#s3api.put-bucket-policy";

const CONTEXT: ActivityContext = {
    target: "production",
    accountId: ACCOUNT,
    instances: {
        [INSTANCE]: { privateIps: ["10.30.1.25", "2001:db8:30::25"], publicIps: ["203.0.113.25"], natGatewayIps: ["203.0.113.77"] },
        "i-0123456789abcdef0": { privateIps: ["10.30.2.10"] },
    },
    vpcEndpointIds: [ENDPOINT, "vpce-0b2c3d4e5f6071829"],
    vaultBucketNames: [BUCKET],
    vaultKeys: [KEY_ARN],
    securityGroupIds: [SG, "sg-0bbbbbbbbbbbbbbb2"],
    deployerArns: [`arn:aws:iam::${ACCOUNT}:role/ci/ci-deployer`, `arn:aws:iam::${ACCOUNT}:user/ops-deployer`],
    healerRoleArns: [`arn:aws:iam::${ACCOUNT}:role/guardrails-healer-function-1a2b3c4`],
};

let clock = Date.parse("2026-12-01T10:00:00Z");
/** Each call a second later than the previous one, so events have distinct times. */
function tick(seconds = 1): Date {
    clock += seconds * 1000;
    return new Date(clock);
}

const rows = (records: readonly TrailRecord[]): TrailEventRow[] => records.map((r) => trailRowOf(r, { bucket: "trail", key: "k" }));

const instance = (id = INSTANCE) => airlockInstance(ACCOUNT, id);
function instanceCall(o: { sourceIp: string; id?: string; vpcEndpointId?: string; vpcEndpointAccountId?: string; eventName?: string; identity?: TrailRecord }): TrailRecord {
    return apiCall({
        identity: o.identity ?? instance(o.id),
        eventSource: "s3.amazonaws.com",
        eventName: o.eventName ?? "GetObject",
        time: tick(),
        sourceIp: o.sourceIp,
        requestParameters: { bucketName: BUCKET, key: `instances/${o.id ?? INSTANCE}.key` },
        ...(o.vpcEndpointId !== undefined ? { vpcEndpointId: o.vpcEndpointId, vpcEndpointAccountId: o.vpcEndpointAccountId ?? ACCOUNT } : {}),
    });
}

const operator = () => assumedRole({ accountId: ACCOUNT, roleName: "Operator", sessionName: "alice", mfa: true });
const deployerSession = () => assumedRole({ accountId: ACCOUNT, roleName: "ci-deployer", sessionName: "github-actions-8812", accessKeyId: "ASIACIEXAMPLE0000001" });
const healer = () => assumedRole({ accountId: ACCOUNT, roleName: "guardrails-healer-function-1a2b3c4", sessionName: "airlock-guardrails-heal-security-groups" });
const mallory = () => iamUser(ACCOUNT, "mallory", { accessKeyId: "AKIAEXAMPLEMALLORY01" });

const putBucketPolicy = (identity: TrailRecord, userAgent: string, extra: { bucket?: string; errorCode?: string } = {}) =>
    apiCall({
        identity,
        eventSource: "s3.amazonaws.com",
        eventName: "PutBucketPolicy",
        time: tick(),
        userAgent,
        requestParameters: { bucketName: extra.bucket ?? BUCKET, bucketPolicy: { Version: "2012-10-17", Statement: [] }, policy: "" },
        resources: [{ accountId: ACCOUNT, type: "AWS::S3::Bucket", ARN: `arn:aws:s3:::${extra.bucket ?? BUCKET}` }],
        ...(extra.errorCode !== undefined ? { errorCode: extra.errorCode } : {}),
    });
const kmsCall = (identity: TrailRecord, eventName: string, userAgent: string, keyId: string = KEY_ARN, resources = true) =>
    apiCall({
        identity,
        eventSource: "kms.amazonaws.com",
        eventName,
        time: tick(),
        userAgent,
        requestParameters: { keyId, ...(eventName === "CreateGrant" ? { granteePrincipal: `arn:aws:iam::${ACCOUNT}:user/mallory`, operations: ["Decrypt"] } : {}) },
        ...(resources ? { resources: [{ accountId: ACCOUNT, type: "AWS::KMS::Key", ARN: KEY_ARN }] } : {}),
    });
const sgCall = (identity: TrailRecord, eventName: string, userAgent: string, groupId: string = SG) =>
    apiCall({
        identity,
        eventSource: "ec2.amazonaws.com",
        eventName,
        time: tick(),
        userAgent,
        requestParameters:
            eventName === "ModifySecurityGroupRules"
                ? { ModifySecurityGroupRulesRequest: { GroupId: groupId, SecurityGroupRule: { SecurityGroupRuleId: "sgr-0123456789abcdef0", tag: 1 } } }
                : { groupId, ipPermissions: { items: [{ ipProtocol: "tcp", fromPort: 22, toPort: 22, ipRanges: { items: [{ cidrIp: "0.0.0.0/0" }] } }] } },
        responseElements: { _return: true },
    });
function denials(n: number, spacingSeconds: number, identity: TrailRecord = mallory(), errorCode = "AccessDenied"): TrailRecord[] {
    return Array.from({ length: n }, () => apiCall({ identity, eventSource: "iam.amazonaws.com", eventName: "ListRoles", time: tick(spacingSeconds), errorCode }));
}

type Expected = Array<[severity: string, title: string]>;
const summary = (records: readonly TrailRecord[], context: ActivityContext = CONTEXT): Expected =>
    detectActivity(rows(records), context).map((f) => [f.severity, f.title]);

describe("instance credentials used outside their instance", () => {
    it.each<[string, () => TrailRecord[], Expected]>([
        [
            "from an address that is not the instance's",
            () => [instanceCall({ sourceIp: "198.51.100.200" })],
            [["critical", `Credentials of instance ${INSTANCE} used from 198.51.100.200, not one of its addresses`]],
        ],
        [
            "through another account's VPC endpoint, even from an address equal to the instance's private one",
            () => [instanceCall({ sourceIp: "10.30.1.25", vpcEndpointId: "vpce-0ffffffffffffffff", vpcEndpointAccountId: "999988887777" })],
            [["critical", `Credentials of instance ${INSTANCE} used through VPC endpoint vpce-0ffffffffffffffff, not one of the account's`]],
        ],
        [
            "through the account's own endpoint from another host of the VPC",
            () => [instanceCall({ sourceIp: "10.30.1.99", vpcEndpointId: ENDPOINT })],
            [["critical", `Credentials of instance ${INSTANCE} used from 10.30.1.99, not one of its addresses`]],
        ],
        [
            "another instance's address is not this instance's",
            () => [instanceCall({ sourceIp: "10.30.2.10", vpcEndpointId: ENDPOINT })],
            [["critical", `Credentials of instance ${INSTANCE} used from 10.30.2.10, not one of its addresses`]],
        ],
        [
            "an instance the inventory does not know: high, never a silent pass",
            () => [instanceCall({ sourceIp: "203.0.113.77", id: OTHER_INSTANCE })],
            [["high", `Credentials of instance ${OTHER_INSTANCE}, unknown to the inventory, used from 203.0.113.77: its addresses could not be checked`]],
        ],
        [
            "an IPv6 address outside the instance (written uncompressed, reported canonical)",
            () => [instanceCall({ sourceIp: "2001:DB8:FFFF:0:0:0:0:1" })],
            [["critical", `Credentials of instance ${INSTANCE} used from 2001:db8:ffff::1, not one of its addresses`]],
        ],
        [
            "an Airlock instance role used by a session not named after an instance",
            () => [instanceCall({ sourceIp: "198.51.100.7", identity: assumedRole({ accountId: ACCOUNT, roleName: "airlock-web-1", path: "/airlock/", sessionName: "bob" }) })],
            [["high", `Airlock instance role arn:aws:iam::${ACCOUNT}:role/airlock/airlock-web-1 used by session bob, which is not an instance's`]],
        ],
        [
            "several calls from one outside address are one finding; another address is another",
            () => [instanceCall({ sourceIp: "198.51.100.200" }), instanceCall({ sourceIp: "198.51.100.200", eventName: "ListBuckets" }), instanceCall({ sourceIp: "198.51.100.201" })],
            [
                ["critical", `Credentials of instance ${INSTANCE} used from 198.51.100.200, not one of its addresses`],
                ["critical", `Credentials of instance ${INSTANCE} used from 198.51.100.201, not one of its addresses`],
            ],
        ],
    ])("raised: %s", (_, records, expected) => {
        expect(summary(records())).toEqual(expected);
    });

    it.each<[string, () => TrailRecord[]]>([
        ["its own private address through the account's VPC endpoint", () => [instanceCall({ sourceIp: "10.30.1.25", vpcEndpointId: ENDPOINT })]],
        ["its own private address through the account's other endpoint", () => [instanceCall({ sourceIp: "10.30.1.25", vpcEndpointId: "vpce-0b2c3d4e5f6071829" })]],
        ["its public address", () => [instanceCall({ sourceIp: "203.0.113.25" })]],
        ["its VPC's NAT gateway address", () => [instanceCall({ sourceIp: "203.0.113.77" })]],
        ["its IPv6 address written uncompressed", () => [instanceCall({ sourceIp: "2001:0db8:0030:0000:0000:0000:0000:0025", vpcEndpointId: ENDPOINT })]],
        ["its public address as IPv4-mapped IPv6", () => [instanceCall({ sourceIp: "::ffff:203.0.113.25" })]],
        [
            "an AWS service on its behalf (invokedBy), from anywhere",
            () => [
                apiCall({
                    identity: assumedRole({ accountId: ACCOUNT, roleName: "airlock-web-1", path: "/airlock/", sessionName: INSTANCE, invokedBy: "ssm.amazonaws.com" }),
                    eventSource: "kms.amazonaws.com",
                    eventName: "Decrypt",
                    time: tick(),
                    sourceIp: "ssm.amazonaws.com",
                }),
            ],
        ],
        ["source \"AWS Internal\"", () => [instanceCall({ sourceIp: "AWS Internal" })]],
        ["source an AWS service name", () => [instanceCall({ sourceIp: "ec2.amazonaws.com" })]],
        [
            "EC2 assuming the instance role (an AWSService identity)",
            () => [
                apiCall({
                    identity: awsService("ec2.amazonaws.com"),
                    eventSource: "sts.amazonaws.com",
                    eventName: "AssumeRole",
                    time: tick(),
                    recipientAccountId: ACCOUNT,
                    requestParameters: { roleArn: `arn:aws:iam::${ACCOUNT}:role/airlock/airlock-web-1`, roleSessionName: INSTANCE },
                }),
            ],
        ],
        [
            "another role's session named after an instance, from outside",
            () => [instanceCall({ sourceIp: "198.51.100.200", identity: assumedRole({ accountId: ACCOUNT, roleName: "app-web", path: "/app/", sessionName: INSTANCE, instanceProfile: true }) })],
        ],
        [
            "a role under a path that only starts like Airlock's (/airlock-legacy/)",
            () => [instanceCall({ sourceIp: "198.51.100.200", identity: assumedRole({ accountId: ACCOUNT, roleName: "web", path: "/airlock-legacy/", sessionName: INSTANCE }) })],
        ],
        ["an IAM user from anywhere", () => [instanceCall({ sourceIp: "198.51.100.200", identity: iamUser(ACCOUNT, "alice") })]],
    ])("not raised: %s", (_, records) => {
        expect(summary(records())).toEqual([]);
    });

    it("evidence lists the events (bounded) and the instance's known addresses", () => {
        const records = Array.from({ length: 30 }, () => instanceCall({ sourceIp: "198.51.100.200" }));
        const [finding, ...others] = detectActivity(rows(records), CONTEXT);
        expect(others).toEqual([]);
        expect(finding).toMatchObject({
            target: "production",
            accountId: ACCOUNT,
            region: "global",
            check: "cloudtrail-activity",
            resource: `arn:aws:iam::${ACCOUNT}:role/airlock/airlock-web-1`,
            status: "fail",
            severity: "critical",
        });
        const evidence = finding!.evidence as Record<string, unknown> & { events: Array<Record<string, unknown>> };
        expect(evidence.instanceId).toBe(INSTANCE);
        expect(evidence.instanceAddresses).toEqual(["10.30.1.25", "2001:db8:30::25", "203.0.113.25", "203.0.113.77"]);
        expect(evidence.eventCount).toBe(30);
        expect(evidence.events).toHaveLength(20);
        expect(evidence.eventsNotListed).toBe(10);
        expect(evidence.firstSeen).toBe(evidence.events[0]!.time);
        expect(evidence.events[0]).toEqual({
            eventId: records[0]!.eventID,
            time: new Date(String(records[0]!.eventTime)).toISOString(),
            name: "GetObject",
            source: "s3.amazonaws.com",
            region: "eu-west-1",
            principal: `arn:aws:sts::${ACCOUNT}:assumed-role/airlock-web-1/${INSTANCE}`,
            sourceIp: "198.51.100.200",
            userAgent: records[0]!.userAgent,
        });
    });
});

describe("root account use", () => {
    it.each<[string, () => TrailRecord[], Expected]>([
        ["a successful console sign-in (with MFA)", () => [consoleLogin({ identity: root(ACCOUNT), time: tick(), mfaUsed: true })], [["critical", "Root signed in to the console"]]],
        ["CreateAccessKey", () => [apiCall({ identity: root(ACCOUNT), eventSource: "iam.amazonaws.com", eventName: "CreateAccessKey", time: tick(), userAgent: CONSOLE_AGENT })], [["critical", "Root created an access key"]]],
        ["an API call", () => [apiCall({ identity: root(ACCOUNT, { accessKeyId: "AKIAROOTEXAMPLE00001" }), eventSource: "ec2.amazonaws.com", eventName: "DescribeInstances", time: tick() })], [["high", "The root user was used"]]],
        ["a failed sign-in attempt", () => [consoleLogin({ identity: root(ACCOUNT), time: tick(), success: false })], [["high", "The root user was used"]]],
        [
            "a sign-in without MFA: root's sign-in and the missing MFA, two findings",
            () => [consoleLogin({ identity: root(ACCOUNT), time: tick(), mfaUsed: false })],
            [
                ["critical", "Root signed in to the console"],
                ["high", "Root signed in to the console without MFA"],
            ],
        ],
    ])("raised: %s", (_, records, expected) => {
        expect(summary(records())).toEqual(expected);
    });

    it.each<[string, () => TrailRecord[]]>([
        ["an AwsServiceEvent AWS records for root", () => [apiCall({ identity: root(ACCOUNT), eventSource: "health.amazonaws.com", eventName: "AWSHealthEvent", time: tick(), eventType: "AwsServiceEvent" })]],
        ["a call an AWS service makes for root (invokedBy)", () => [apiCall({ identity: root(ACCOUNT, { invokedBy: "support.amazonaws.com" }), eventSource: "iam.amazonaws.com", eventName: "GetAccountSummary", time: tick(), sourceIp: "support.amazonaws.com" })]],
    ])("not raised: %s", (_, records) => {
        expect(summary(records())).toEqual([]);
    });
});

describe("console sign-in without MFA", () => {
    it.each<[string, () => TrailRecord[], Expected]>([
        ["an IAM user, successful, MFAUsed No", () => [consoleLogin({ identity: iamUser(ACCOUNT, "bob"), time: tick(), mfaUsed: false })], [["high", "IAM user bob signed in to the console without MFA"]]],
        ["an IAM user under a path", () => [consoleLogin({ identity: iamUser(ACCOUNT, "carol", { path: "/people/" }), time: tick(), mfaUsed: false })], [["high", "IAM user carol signed in to the console without MFA"]]],
        [
            "two sign-ins of one user are one finding with both events",
            () => [consoleLogin({ identity: iamUser(ACCOUNT, "bob"), time: tick(), mfaUsed: false }), consoleLogin({ identity: iamUser(ACCOUNT, "bob"), time: tick(), mfaUsed: false })],
            [["high", "IAM user bob signed in to the console without MFA"]],
        ],
    ])("raised: %s", (_, records, expected) => {
        expect(summary(records())).toEqual(expected);
    });

    it.each<[string, () => TrailRecord[]]>([
        ["with MFA", () => [consoleLogin({ identity: iamUser(ACCOUNT, "bob"), time: tick(), mfaUsed: true })]],
        ["a failed sign-in", () => [consoleLogin({ identity: iamUser(ACCOUNT, "bob"), time: tick(), mfaUsed: false, success: false })]],
        [
            "an SSO (Identity Center) session: its identity provider does MFA",
            () => [consoleLogin({ identity: assumedRole({ accountId: ACCOUNT, roleName: "AWSReservedSSO_AdministratorAccess_0123abcd", path: "/aws-reserved/sso.amazonaws.com/", sessionName: "alice@example.com" }), time: tick(), mfaUsed: false })],
        ],
        ["a SAML federated role session", () => [consoleLogin({ identity: assumedRole({ accountId: ACCOUNT, roleName: "ADFS-Admins", sessionName: "alice@example.com" }), time: tick(), mfaUsed: false })]],
    ])("not raised: %s", (_, records) => {
        expect(summary(records())).toEqual([]);
    });

    it("the finding's evidence carries the sign-in events", () => {
        const [finding] = detectActivity(rows([consoleLogin({ identity: iamUser(ACCOUNT, "bob"), time: tick(), mfaUsed: false, sourceIp: "2001:db8::44" })]), CONTEXT);
        expect(finding?.resource).toBe(`arn:aws:iam::${ACCOUNT}:user/bob`);
        expect(finding?.evidence).toMatchObject({ principal: `arn:aws:iam::${ACCOUNT}:user/bob`, principalType: "IAMUser", eventCount: 1, events: [{ name: "ConsoleLogin", sourceIp: "2001:db8::44" }] });
    });
});

describe("bursts of access denied for one principal", () => {
    const MALLORY = `arn:aws:iam::${ACCOUNT}:user/mallory`;
    const title = (start: string, principal = MALLORY, threshold = 10, minutes = 5) => `${threshold} or more access denied within ${minutes} minutes for ${principal}, from ${start}`;

    it("10 denials within 5 minutes: one medium finding with all ten events", () => {
        const records = denials(10, 20);
        const findings = detectActivity(rows(records), CONTEXT);
        expect(findings.map((f) => [f.severity, f.title])).toEqual([["medium", title(new Date(String(records[0]!.eventTime)).toISOString())]]);
        expect(findings[0]!.evidence).toMatchObject({ principal: MALLORY, threshold: 10, windowMinutes: 5, eventCount: 10, errorCodes: ["AccessDenied"], eventNames: ["iam:ListRoles"] });
    });

    it("a long burst (25 denials, one every 20 s) is one finding: overlapping windows merge", () => {
        const findings = detectActivity(rows(denials(25, 20)), CONTEXT);
        expect(findings).toHaveLength(1);
        expect(findings[0]!.evidence).toMatchObject({ eventCount: 25 });
    });

    it("two bursts an hour apart are two findings, each with its own start", () => {
        const first = denials(12, 10);
        tick(3600);
        const second = denials(10, 10);
        const titles = detectActivity(rows([...first, ...second]), CONTEXT).map((f) => f.title);
        expect(titles).toEqual([title(new Date(String(first[0]!.eventTime)).toISOString()), title(new Date(String(second[0]!.eventTime)).toISOString())]);
    });

    it("error codes of every service count together (EC2's Client.UnauthorizedOperation, KMS's AccessDeniedException)", () => {
        const records = [...denials(4, 5, mallory(), "Client.UnauthorizedOperation"), ...denials(3, 5, mallory(), "AccessDeniedException"), ...denials(3, 5, mallory(), "UnauthorizedOperation")];
        const [finding] = detectActivity(rows(records), CONTEXT);
        expect(finding?.evidence).toMatchObject({ eventCount: 10, errorCodes: ["AccessDeniedException", "Client.UnauthorizedOperation", "UnauthorizedOperation"] });
    });

    it("a session is its own principal (the assumed-role ARN)", () => {
        const [finding] = detectActivity(rows(denials(10, 1, operator())), CONTEXT);
        expect(finding?.resource).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/Operator/alice`);
    });

    it("threshold and window come from the context", () => {
        const records = denials(3, 10);
        expect(summary(records, { ...CONTEXT, accessDenied: { threshold: 3, windowMinutes: 1 } })).toEqual([["medium", title(new Date(String(records[0]!.eventTime)).toISOString(), MALLORY, 3, 1)]]);
    });

    it.each<[string, () => TrailRecord[]]>([
        ["9 denials within 5 minutes", () => denials(9, 20)],
        ["10 denials spread over more than 5 minutes (one every 35 s)", () => denials(10, 35)],
        ["10 denials of two principals, 5 each", () => [...denials(5, 5), ...denials(5, 5, operator())]],
        ["20 errors that are not denials (throttling, not found)", () => [...denials(10, 1, mallory(), "ThrottlingException"), ...denials(10, 1, mallory(), "NoSuchEntity")]],
        ["a dry run's success (Client.DryRunOperation)", () => denials(12, 1, mallory(), "Client.DryRunOperation")],
        [
            "an AWS service's own denials",
            () => Array.from({ length: 12 }, () => apiCall({ identity: awsService("config.amazonaws.com"), eventSource: "s3.amazonaws.com", eventName: "GetBucketAcl", time: tick(1), errorCode: "AccessDenied", recipientAccountId: ACCOUNT })),
        ],
    ])("not raised: %s", (_, records) => {
        expect(summary(records())).toEqual([]);
    });

    it.each<[number[], number, number, Array<[number, number]>]>([
        [[], 3, 10, []],
        [[0, 1, 2], 3, 10, [[0, 2]]],
        [[0, 1, 20], 3, 10, []],
        [[0, 1, 2, 3, 4], 3, 10, [[0, 4]]],
        [[0, 1, 2, 100, 101, 102], 3, 10, [[0, 2], [3, 5]]],
        [[0, 5, 10, 15, 20], 3, 10, [[0, 4]]],
    ])("burstsOf(%j, %d, %d) = %j", (times, threshold, windowMs, expected) => {
        expect(burstsOf(times, threshold, windowMs)).toEqual(expected);
    });
});

describe("changes to Airlock's vault outside a pulumi up", () => {
    const MALLORY = `arn:aws:iam::${ACCOUNT}:user/mallory`;
    it.each<[string, () => TrailRecord[], Expected]>([
        ["an IAM user's PutBucketPolicy on the vault bucket", () => [putBucketPolicy(mallory(), CLI_AGENT)], [["high", `Vault bucket ${BUCKET} changed outside a pulumi up by ${MALLORY}`]]],
        [
            "a deployer's change from the console (not the Pulumi provider)",
            () => [kmsCall(deployerSession(), "PutKeyPolicy", CONSOLE_AGENT)],
            [["high", `Vault key ${KEY_ID} changed outside a pulumi up by arn:aws:iam::${ACCOUNT}:role/ci-deployer`]],
        ],
        [
            "someone who is not a deployer, with the Pulumi provider's user agent (their own pulumi up)",
            () => [putBucketPolicy(operator(), PULUMI_AGENT)],
            [["high", `Vault bucket ${BUCKET} changed outside a pulumi up by arn:aws:iam::${ACCOUNT}:role/Operator`]],
        ],
        ["the key found through resources when called by alias", () => [kmsCall(mallory(), "DisableKey", CLI_AGENT, "alias/airlock-vault-1a2b")], [["high", `Vault key ${KEY_ID} changed outside a pulumi up by ${MALLORY}`]]],
        ["ScheduleKeyDeletion by key id alone", () => [kmsCall(mallory(), "ScheduleKeyDeletion", CLI_AGENT, KEY_ID, false)], [["high", `Vault key ${KEY_ID} changed outside a pulumi up by ${MALLORY}`]]],
        ["a grant on the vault key asked for by a user", () => [kmsCall(mallory(), "CreateGrant", CLI_AGENT)], [["high", `Vault key ${KEY_ID} changed outside a pulumi up by ${MALLORY}`]]],
        ["a rule added to an Airlock security group", () => [sgCall(operator(), "AuthorizeSecurityGroupIngress", "console.ec2.amazonaws.com")], [["high", `Airlock security group ${SG} changed outside a pulumi up by arn:aws:iam::${ACCOUNT}:role/Operator`]]],
        ["a rule modified (ModifySecurityGroupRules' wrapped request)", () => [sgCall(operator(), "ModifySecurityGroupRules", "console.ec2.amazonaws.com")], [["high", `Airlock security group ${SG} changed outside a pulumi up by arn:aws:iam::${ACCOUNT}:role/Operator`]]],
        ["a rule revoked by someone who is not the healer", () => [sgCall(operator(), "RevokeSecurityGroupIngress", CLI_AGENT)], [["high", `Airlock security group ${SG} changed outside a pulumi up by arn:aws:iam::${ACCOUNT}:role/Operator`]]],
        ["the healer adding a rule (it only ever revokes)", () => [sgCall(healer(), "AuthorizeSecurityGroupEgress", "aws-sdk-js/3.1169.0 exec-env/AWS_Lambda_nodejs22.x")], [["high", `Airlock security group ${SG} changed outside a pulumi up by arn:aws:iam::${ACCOUNT}:role/guardrails-healer-function-1a2b3c4`]]],
        [
            "a group named by the response alone (default VPC, by name)",
            () => [
                apiCall({
                    identity: operator(),
                    eventSource: "ec2.amazonaws.com",
                    eventName: "AuthorizeSecurityGroupIngress",
                    time: tick(),
                    requestParameters: { groupName: "airlock-production" },
                    responseElements: { _return: true, securityGroupRuleSet: { items: [{ groupId: SG, securityGroupRuleId: "sgr-0123456789abcdef0", isEgress: false }] } },
                }),
            ],
            [["high", `Airlock security group ${SG} changed outside a pulumi up by arn:aws:iam::${ACCOUNT}:role/Operator`]],
        ],
        [
            "several changes by one principal to one resource are one finding; another principal is another",
            () => [putBucketPolicy(mallory(), CLI_AGENT), putBucketPolicy(mallory(), CLI_AGENT), putBucketPolicy(operator(), CLI_AGENT)],
            [
                ["high", `Vault bucket ${BUCKET} changed outside a pulumi up by ${MALLORY}`],
                ["high", `Vault bucket ${BUCKET} changed outside a pulumi up by arn:aws:iam::${ACCOUNT}:role/Operator`],
            ],
        ],
    ])("raised: %s", (_, records, expected) => {
        expect(summary(records())).toEqual(expected);
    });

    it.each<[string, () => TrailRecord[]]>([
        ["a deployer role's session (role matched under any path) through the Pulumi provider", () => [putBucketPolicy(deployerSession(), PULUMI_AGENT), kmsCall(deployerSession(), "PutKeyPolicy", PULUMI_AGENT), sgCall(deployerSession(), "AuthorizeSecurityGroupIngress", PULUMI_AGENT)]],
        ["a deployer user through the Pulumi provider (APN 1.0 product only, older pulumi-aws)", () => [putBucketPolicy(iamUser(ACCOUNT, "ops-deployer"), "APN/1.0 Pulumi/1.0 Pulumi-Aws/6.66.2 (+https://pulumi.com) aws-sdk-go-v2/1.32.6 os/linux lang/go#1.23.3")]],
        ["a deployer through the Pulumi provider (APN 1.1 marketplace id only)", () => [putBucketPolicy(deployerSession(), "aws-sdk-go-v2/1.39.2 ua/2.1 os/linux lang/go#1.24.6 api/s3#1.88.4 m/t,u APN/1.1 (c7qiae2l6usvzoynupds6v7hf)")]],
        ["the healer revoking a rule", () => [sgCall(healer(), "RevokeSecurityGroupIngress", "aws-sdk-js/3.1169.0 exec-env/AWS_Lambda_nodejs22.x")]],
        ["a failed change (errorCode)", () => [putBucketPolicy(mallory(), CLI_AGENT, { errorCode: "AccessDenied" })]],
        ["another bucket's policy", () => [putBucketPolicy(mallory(), CLI_AGENT, { bucket: "team-website" })]],
        ["another security group", () => [sgCall(operator(), "AuthorizeSecurityGroupIngress", CLI_AGENT, "sg-0cccccccccccccccc3")]],
        ["another key", () => [kmsCall(mallory(), "PutKeyPolicy", CLI_AGENT, "11111111-2222-4333-8444-555555555555", false)]],
        [
            "a grant an AWS service asks for on someone's behalf (EBS attaching an encrypted volume)",
            () => [
                apiCall({
                    identity: assumedRole({ accountId: ACCOUNT, roleName: "AWSServiceRoleForAutoScaling", path: "/aws-service-role/autoscaling.amazonaws.com/", sessionName: "AutoScaling", invokedBy: "ec2.amazonaws.com" }),
                    eventSource: "kms.amazonaws.com",
                    eventName: "CreateGrant",
                    time: tick(),
                    sourceIp: "ec2.amazonaws.com",
                    requestParameters: { keyId: KEY_ARN, granteePrincipal: "ec2.eu-west-1.amazonaws.com" },
                }),
            ],
        ],
        ["reading the vault (GetBucketPolicy, DescribeKey)", () => [apiCall({ identity: mallory(), eventSource: "s3.amazonaws.com", eventName: "GetBucketPolicy", time: tick(), requestParameters: { bucketName: BUCKET } }), kmsCall(mallory(), "DescribeKey", CLI_AGENT)]],
    ])("not raised: %s", (_, records) => {
        expect(summary(records())).toEqual([]);
    });

    it("without vault resources in the context nothing of the vault is judged; with no deployers, a Pulumi agent proves nothing", () => {
        const records = [putBucketPolicy(deployerSession(), PULUMI_AGENT)];
        expect(summary(records, { ...CONTEXT, vaultBucketNames: [], vaultKeys: [], securityGroupIds: [] })).toEqual([]);
        expect(summary(records, { ...CONTEXT, deployerArns: [] })).toEqual([["high", `Vault bucket ${BUCKET} changed outside a pulumi up by arn:aws:iam::${ACCOUNT}:role/ci-deployer`]]);
    });

    it("evidence says who, which calls, with which agents, and that the agent is client-set", () => {
        const [finding] = detectActivity(rows([kmsCall(deployerSession(), "PutKeyPolicy", CONSOLE_AGENT)]), CONTEXT);
        expect(finding?.resource).toBe(KEY_ARN);
        expect(finding?.evidence).toMatchObject({ changedBy: `arn:aws:iam::${ACCOUNT}:role/ci-deployer`, eventNames: ["PutKeyPolicy"], userAgents: [CONSOLE_AGENT], isDeployer: true });
        expect(String(finding?.evidence.note)).toMatch(/client sets/);
    });
});

describe("edge cases", () => {
    it("no events: no findings", () => {
        expect(detectActivity([], CONTEXT)).toEqual([]);
        expect(detectActivity([], { target: "t" })).toEqual([]);
    });

    it("an empty context makes every Airlock session unknown (high), never a pass", () => {
        expect(summary([instanceCall({ sourceIp: "10.30.1.25", vpcEndpointId: ENDPOINT })], { target: "t" })).toEqual([
            ["high", `Credentials of instance ${INSTANCE}, unknown to the inventory, used from 10.30.1.25: its addresses could not be checked`],
        ]);
    });

    it("endpoints not known (undefined): a call through one is judged by its address; an empty list means the account has none", () => {
        const { vpcEndpointIds: _unknown, ...withoutEndpoints } = CONTEXT;
        const throughEndpoint = [instanceCall({ sourceIp: "10.30.1.25", vpcEndpointId: ENDPOINT })];
        expect(summary(throughEndpoint, withoutEndpoints)).toEqual([]);
        expect(summary([instanceCall({ sourceIp: "10.30.1.99", vpcEndpointId: ENDPOINT })], withoutEndpoints)).toEqual([
            ["critical", `Credentials of instance ${INSTANCE} used from 10.30.1.99, not one of its addresses`],
        ]);
        expect(summary(throughEndpoint, { ...CONTEXT, vpcEndpointIds: [] })).toEqual([
            ["critical", `Credentials of instance ${INSTANCE} used through VPC endpoint ${ENDPOINT}, not one of the account's`],
        ]);
    });

    it("a quiet mix of everyone's ordinary calls raises nothing", () => {
        const records = [
            instanceCall({ sourceIp: "203.0.113.77" }),
            instanceCall({ sourceIp: "10.30.1.25", vpcEndpointId: ENDPOINT }),
            consoleLogin({ identity: iamUser(ACCOUNT, "bob"), time: tick(), mfaUsed: true }),
            putBucketPolicy(deployerSession(), PULUMI_AGENT),
            sgCall(healer(), "RevokeSecurityGroupEgress", "aws-sdk-js/3.1169.0"),
            ...denials(3, 60),
        ];
        expect(summary(records)).toEqual([]);
    });

    it.each<[string, string | undefined]>([
        ["10.0.0.1", "10.0.0.1"],
        [" 10.0.0.1 ", "10.0.0.1"],
        ["::ffff:10.0.0.1", "10.0.0.1"],
        ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
        ["10.1", undefined],
        ["AWS Internal", undefined],
        ["ec2.amazonaws.com", undefined],
    ])("canonicalIp(%j) = %j", (input, expected) => {
        expect(canonicalIp(input)).toBe(expected);
    });

    it.each<[string | null, boolean]>([
        [PULUMI_AGENT, true],
        ["APN/1.0 Pulumi/1.0 Pulumi-Aws/5.18.0 (+https://www.pulumi.com) aws-sdk-go/1.44.12", true],
        ["[APN/1.0 Pulumi/1.0 Pulumi-Aws/4.17.0 (+https://www.pulumi.com)]", true],
        ["APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.80.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.32.6", false],
        ["APN/1.0 Pulumi/1.0 PulumiAwsNative/1.12", false],
        ["my-tool/1.0 notPulumi-Aws/1.0", false],
        [CLI_AGENT, false],
        [null, false],
    ])("isPulumiAwsAgent(%j) = %j", (agent, expected) => {
        expect(isPulumiAwsAgent(agent)).toBe(expected);
    });
});
