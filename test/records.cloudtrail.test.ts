/**
 * CloudTrail log files into cloudtrail_events rows (audit/records/cloudtrail/events.ts): a recorded
 * file read into exact rows, each kind of malformed file refused naming the object, bad records
 * skipped and counted, the trail bucket's key layout (log files, digests, Insights, other objects),
 * and the test support's writer (its files read back by the parser).
 */
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import { classifyTrailKey, normalizeEventTime, parseTrailLog, TrailLogError, type TrailEventRow } from "../audit/records/cloudtrail/events";
import {
    airlockInstance,
    apiCall,
    consoleLogin,
    gzipTrailLog,
    iamUser,
    root,
    syntheticRecords,
    trailDigestKey,
    trailLogKey,
} from "./support/cloudtrailLogs";

const FIXTURE_NAME = "123456789012_CloudTrail_eu-west-1_20261201T1105Z_k3J9aQ2mX7bT1pLz.json";
const FIXTURE = fs.readFileSync(path.join(__dirname, "fixtures", "cloudtrail-activity", FIXTURE_NAME), "utf8");
const BUCKET = "airlock-guardrails-trail-0f1e2d3";
const KEY = `AWSLogs/123456789012/CloudTrail/eu-west-1/2026/12/01/${FIXTURE_NAME}.gz`;
const FROM = { bucket: BUCKET, key: KEY };

const gzip = (text: string): Buffer => zlib.gzipSync(Buffer.from(text, "utf8"));

describe("parseTrailLog: a recorded log file", () => {
    const parsed = parseTrailLog(gzip(FIXTURE), FROM);

    it("reads every record, none skipped", () => {
        expect(parsed.records).toBe(4);
        expect(parsed.skipped).toEqual([]);
        expect(parsed.duplicates).toBe(0);
        expect(parsed.rows.map((r) => r.event_id)).toEqual([
            "b1e0c7a4-2f3d-4e59-8a61-5c9d0e7f2a13",
            "c2f1d8b5-3a4e-4f60-9b72-6d0e1f8a3b24",
            "d3a2e9c6-4b5f-4071-8c83-7e1f2a9b4c35",
            "e4b3f0d7-5c6a-4182-9d94-8f2a3b0c5d46",
        ]);
    });

    it("an Airlock instance's call through the account's VPC endpoint: exact row", () => {
        const expected: TrailEventRow = {
            event_id: "b1e0c7a4-2f3d-4e59-8a61-5c9d0e7f2a13",
            event_time: "2026-12-01T11:03:28.000Z",
            event_source: "kms.amazonaws.com",
            event_name: "Decrypt",
            aws_region: "eu-west-1",
            recipient_account_id: "123456789012",
            event_type: "AwsApiCall",
            read_only: "true",
            principal_type: "AssumedRole",
            principal_arn: "arn:aws:sts::123456789012:assumed-role/airlock-web-1/i-0a1b2c3d4e5f60718",
            principal_account_id: "123456789012",
            access_key_id: "ASIAEXAMPLEINSTANCE1",
            session_issuer_arn: "arn:aws:iam::123456789012:role/airlock/airlock-web-1",
            session_name: "i-0a1b2c3d4e5f60718",
            invoked_by: null,
            mfa_authenticated: "false",
            source_ip: "10.30.1.25",
            user_agent:
                "aws-cli/2.27.49 md/awscrt#0.26.1 ua/2.1 os/linux#6.1.0-37-amd64 md/arch#x86_64 lang/python#3.13.4 md/pyimpl#CPython m/E,b cfg/retry-mode#standard md/installer#exe md/distrib#debian.12 md/prompt#off md/command#s3.cp",
            error_code: null,
            error_message: null,
            vpc_endpoint_id: "vpce-0a1b2c3d4e5f60718",
            request_parameters: JSON.stringify({
                encryptionAlgorithm: "SYMMETRIC_DEFAULT",
                encryptionContext: { "aws:s3:arn": "arn:aws:s3:::airlock-vault-keys-5d1f0a2/instances/i-0a1b2c3d4e5f60718.key" },
            }),
            response_elements: null,
            additional_event_data: null,
            resources: JSON.stringify([{ accountId: "123456789012", type: "AWS::KMS::Key", ARN: "arn:aws:kms:eu-west-1:123456789012:key/6f0a2b9c-1d3e-4f5a-8b7c-9d0e1f2a3b4c" }]),
            file_bucket: BUCKET,
            file_key: KEY,
        };
        expect(parsed.rows[0]).toEqual(expected);
    });

    it("root's console sign-in from an IPv6 address: exact row", () => {
        expect(parsed.rows[1]).toEqual({
            event_id: "c2f1d8b5-3a4e-4f60-9b72-6d0e1f8a3b24",
            event_time: "2026-12-01T11:04:02.000Z",
            event_source: "signin.amazonaws.com",
            event_name: "ConsoleLogin",
            aws_region: "us-east-1",
            recipient_account_id: "123456789012",
            event_type: "AwsConsoleSignIn",
            read_only: "false",
            principal_type: "Root",
            principal_arn: "arn:aws:iam::123456789012:root",
            principal_account_id: "123456789012",
            access_key_id: null,
            session_issuer_arn: null,
            session_name: null,
            invoked_by: null,
            mfa_authenticated: null,
            source_ip: "2001:db8:4f2a::17",
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
            error_code: null,
            error_message: null,
            vpc_endpoint_id: null,
            request_parameters: null,
            response_elements: '{"ConsoleLogin":"Success"}',
            additional_event_data: JSON.stringify({
                LoginTo: "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_4f9b2c",
                MobileVersion: "No",
                MFAUsed: "No",
            }),
            resources: null,
            file_bucket: BUCKET,
            file_key: KEY,
        });
    });

    it("a denied call keeps its error; an AWS service's call has no ARN and a service name as its source", () => {
        const denied = parsed.rows[2]!;
        expect([denied.principal_type, denied.principal_arn, denied.access_key_id, denied.error_code, denied.response_elements]).toEqual([
            "IAMUser",
            "arn:aws:iam::123456789012:user/mallory",
            "AKIAEXAMPLEMALLORY01",
            "AccessDenied",
            null,
        ]);
        expect(denied.error_message).toMatch(/^User: arn:aws:iam::123456789012:user\/mallory is not authorized to perform: s3:PutBucketPolicy/);
        expect(JSON.parse(denied.request_parameters!).bucketName).toBe("airlock-vault-keys-5d1f0a2");
        const service = parsed.rows[3]!;
        expect([service.principal_type, service.principal_arn, service.invoked_by, service.source_ip, service.session_name]).toEqual([
            "AWSService",
            null,
            "ec2.amazonaws.com",
            "ec2.amazonaws.com",
            null,
        ]);
    });

    it("times are ISO-8601 UTC with milliseconds, so text order is time order", () => {
        const times = parsed.rows.map((r) => r.event_time);
        expect(times).toEqual([...times].sort());
        expect(normalizeEventTime("2026-12-01T11:03:28Z")).toBe("2026-12-01T11:03:28.000Z");
        expect(normalizeEventTime("2026-12-01T11:03:28.5Z")).toBe("2026-12-01T11:03:28.500Z");
        expect(normalizeEventTime("2026-12-01 11:03:28")).toBeUndefined();
        expect(normalizeEventTime("2026-12-01T11:03:28+02:00")).toBeUndefined();
        expect(normalizeEventTime("2026-13-45T11:03:28Z")).toBeUndefined();
        expect(normalizeEventTime(1733051008)).toBeUndefined();
    });
});

describe("parseTrailLog: malformed files are refused, naming the object", () => {
    it.each<[string, Buffer, RegExp]>([
        ["empty", Buffer.alloc(0), /is not gzip \(it is empty\)/],
        ["plain JSON, not gzip", Buffer.from('{"Records": []}'), /is not gzip \(no gzip header\); CloudTrail writes \.json\.gz files/],
        ["a truncated gzip", gzip(FIXTURE).subarray(0, 40), /cannot be decompressed: /],
        ["gzip of text that is not JSON", gzip("Records: nope"), /is not JSON: /],
        ["JSON without Records", gzip('{"records": []}'), /has no "Records" array \(its keys: records\)/],
        ["Records not an array", gzip('{"Records": {"eventID": "x"}}'), /has no "Records" array/],
        ["a JSON array", gzip("[]"), /has no "Records" array \(it is not a JSON object\)/],
    ])("%s", (_, body, message) => {
        let error: unknown;
        try {
            parseTrailLog(body, FROM);
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(TrailLogError);
        expect((error as TrailLogError).objectKey).toBe(KEY);
        expect((error as Error).message).toContain(`CloudTrail log s3://${BUCKET}/${KEY} `);
        expect((error as Error).message).toMatch(message);
    });

    it("an empty Records array is a valid file with no rows", () => {
        expect(parseTrailLog(gzip('{"Records": []}'), FROM)).toEqual({ rows: [], records: 0, duplicates: 0, skipped: [], skippedRecords: 0 });
    });
});

describe("parseTrailLog: bad records are skipped and counted, the others kept", () => {
    const good = (id: string) => apiCall({ identity: iamUser("123456789012", "alice"), eventSource: "ec2.amazonaws.com", eventName: "DescribeInstances", time: "2026-12-01T10:00:00Z", eventId: id });

    it("each bad record is named with its index and why; good ones around it survive", () => {
        const { eventID: _omit, ...noId } = good("x");
        const records = [
            good("11111111-1111-4111-8111-111111111111"),
            noId,
            { ...good("22222222-2222-4222-8222-222222222222"), eventTime: undefined },
            { ...good("33333333-3333-4333-8333-333333333333"), eventTime: "yesterday" },
            { ...good("44444444-4444-4444-8444-444444444444"), eventName: "" },
            { ...good("55555555-5555-4555-8555-555555555555"), awsRegion: undefined },
            "a string",
            null,
            [1, 2],
            good("66666666-6666-4666-8666-666666666666"),
        ];
        const parsed = parseTrailLog(gzip(JSON.stringify({ Records: records })), FROM);
        expect(parsed.rows.map((r) => r.event_id)).toEqual(["11111111-1111-4111-8111-111111111111", "66666666-6666-4666-8666-666666666666"]);
        expect(parsed.records).toBe(10);
        expect(parsed.skipped).toEqual([
            { index: 1, reason: "Record 1 has no eventID" },
            { index: 2, reason: "Record 2 (eventID 22222222-2222-4222-8222-222222222222) has no eventTime" },
            { index: 3, reason: 'Record 3 (eventID 33333333-3333-4333-8333-333333333333) has an eventTime that is not an ISO-8601 UTC time: "yesterday"' },
            { index: 4, reason: "Record 4 (eventID 44444444-4444-4444-8444-444444444444) has no eventName" },
            { index: 5, reason: "Record 5 (eventID 55555555-5555-4555-8555-555555555555) has no awsRegion" },
            { index: 6, reason: "Record 6 is a string, not a record object" },
            { index: 7, reason: "Record 7 is null, not a record object" },
            { index: 8, reason: "Record 8 is an array, not a record object" },
        ]);
    });

    it("the same eventID twice in a file is kept once (CloudTrail delivers at least once)", () => {
        const twice = good("77777777-7777-4777-8777-777777777777");
        const parsed = parseTrailLog(gzip(JSON.stringify({ Records: [twice, twice] })), FROM);
        expect(parsed.rows).toHaveLength(1);
        expect(parsed.duplicates).toBe(1);
    });

    it("unknown fields are ignored; missing optional ones are null", () => {
        const record = { ...good("88888888-8888-4888-8888-888888888888"), somethingNew: { nested: true }, userIdentity: undefined, sourceIPAddress: undefined };
        const [row] = parseTrailLog(gzip(JSON.stringify({ Records: [record] })), FROM).rows;
        expect(row).toMatchObject({ principal_type: null, principal_arn: null, source_ip: null, session_issuer_arn: null, event_name: "DescribeInstances" });
    });
});

describe("classifyTrailKey: the trail bucket's layout", () => {
    it.each<[string, string, Record<string, unknown>]>([
        ["a log file", KEY, { kind: "log", prefix: "", accountId: "123456789012", region: "eu-west-1", day: "2026-12-01" }],
        [
            "a log file under a prefix",
            `trails/prod/AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/31/111122223333_CloudTrail_us-east-1_20260131T2355Z_Ab12Cd34Ef56Gh78.json.gz`,
            { kind: "log", prefix: "trails/prod/", accountId: "111122223333", region: "us-east-1", day: "2026-01-31" },
        ],
        [
            "an organization trail's log file",
            `AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/eu-west-1/2026/12/01/111122223333_CloudTrail_eu-west-1_20261201T0000Z_Ab12Cd34Ef56Gh78.json.gz`,
            { kind: "log", organizationId: "o-a1b2c3d4e5", accountId: "111122223333" },
        ],
        ["a digest file", trailDigestKey({ accountId: "123456789012", region: "eu-west-1", time: new Date("2026-12-01T11:00:00Z") }), { kind: "digest" }],
        [
            "an Insights file",
            "AWSLogs/123456789012/CloudTrail-Insight/eu-west-1/2026/12/01/123456789012_CloudTrail-Insight_eu-west-1_20261201T1105Z_Ab12Cd34Ef56Gh78.json.gz",
            { kind: "insight" },
        ],
        ["a folder marker", "AWSLogs/123456789012/CloudTrail/eu-west-1/2026/12/01/", { kind: "other" }],
        ["a renamed file in a log folder", "AWSLogs/123456789012/CloudTrail/eu-west-1/2026/12/01/notes.txt", { kind: "other" }],
        ["another tool's object", "exports/2026-12-01.csv", { kind: "other" }],
    ])("%s", (_, key, expected) => {
        expect(classifyTrailKey(key)).toMatchObject(expected);
    });
});

describe("test support: the writer's files are what the parser reads", () => {
    it("keys have the trail's layout and file names; digests are classified as digests", () => {
        const time = new Date("2026-12-01T11:05:42.123Z");
        const key = trailLogKey({ accountId: "123456789012", region: "eu-west-1", time, prefix: "org/" });
        expect(key).toMatch(/^org\/AWSLogs\/123456789012\/CloudTrail\/eu-west-1\/2026\/12\/01\/123456789012_CloudTrail_eu-west-1_20261201T1105Z_[A-Za-z0-9]{16}\.json\.gz$/);
        expect(classifyTrailKey(key).kind).toBe("log");
        expect(classifyTrailKey(trailDigestKey({ accountId: "123456789012", region: "eu-west-1", time })).kind).toBe("digest");
    });

    it("every builder's record parses into a row with the identity it was given", () => {
        const time = "2026-12-01T12:00:00Z";
        const records = [
            apiCall({ identity: airlockInstance("123456789012", "i-0a1b2c3d4e5f60718"), eventSource: "s3.amazonaws.com", eventName: "GetObject", time, vpcEndpointId: "vpce-0123456789abcdef0" }),
            consoleLogin({ identity: iamUser("123456789012", "bob"), time, mfaUsed: false }),
            apiCall({ identity: root("123456789012"), eventSource: "iam.amazonaws.com", eventName: "CreateAccessKey", time }),
        ];
        const { rows, skipped } = parseTrailLog(gzipTrailLog(records), FROM);
        expect(skipped).toEqual([]);
        expect(rows.map((r) => [r.principal_type, r.session_name, r.vpc_endpoint_id, r.event_name])).toEqual([
            ["AssumedRole", "i-0a1b2c3d4e5f60718", "vpce-0123456789abcdef0", "GetObject"],
            ["IAMUser", null, null, "ConsoleLogin"],
            ["Root", null, null, "CreateAccessKey"],
        ]);
        expect(rows[0]!.session_issuer_arn).toBe("arn:aws:iam::123456789012:role/airlock/airlock-web-1");
    });

    it("synthetic records are deterministic for a seed and all parse", () => {
        const a = [...syntheticRecords(500, { seed: 3 })];
        const b = [...syntheticRecords(500, { seed: 3 })];
        expect(JSON.stringify(a) === JSON.stringify(b)).toBe(true);
        expect(JSON.stringify(a) === JSON.stringify([...syntheticRecords(500, { seed: 4 })])).toBe(false);
        const { rows, skipped } = parseTrailLog(gzipTrailLog(a), FROM);
        expect(skipped).toEqual([]);
        expect(rows).toHaveLength(500);
        expect(new Set(rows.map((r) => r.principal_type))).toEqual(new Set(["AssumedRole", "IAMUser", "AWSService"]));
    });
});
