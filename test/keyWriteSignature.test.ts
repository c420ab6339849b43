/**
 * The boot script's write-once PUT signer (SIGN_PUT in cloud-init/airlock-boot.sh: Python's
 * standard library, run by the instance's python3), for the URLs real AWS uses, which the boot path
 * tests (moto, path-style on 127.0.0.1) cannot reach: virtual-hosted https://<bucket>.s3.<region>.<dns
 * suffix>/<key> in each partition, and path-style for a bucket with a dot (a dotted name does not
 * match S3's wildcard certificate). The signer's output, a curl config, is checked with botocore's
 * S3 signer (test/support/sigv4Check.ts). test/bootPath.test.ts checks the request as curl really
 * sends it, through the whole first boot.
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { BOOT_SCRIPT_PATH } from "../cloud-init/render";
import { INSTANCE_ARN_TAG, keyObjectKey } from "../policies/keyNaming";
import { SignedS3Request, checkS3Signature } from "./support/sigv4Check";

const credentials = { AccessKeyId: "ASIAEXAMPLEROLE00001", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", Token: `IQoJb3JpZ2luX2VjE${"A".repeat(300)}/+=` };
const KMS_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/0b7a6f0e-3c1d-4e5f-8a9b-0c1d2e3f4a5b";

/** The Python program the boot script runs to sign its PUT, as it is in the script. */
function signerSource(): string {
    const match = /^SIGN_PUT='\n([\s\S]*?)\n'$/m.exec(fs.readFileSync(BOOT_SCRIPT_PATH, "utf8"));
    if (match?.[1] === undefined) throw new Error("SIGN_PUT='…' not found in airlock-boot.sh");
    return match[1];
}

/** curl config → the request curl sends from it (url, upload-file, header lines). */
function requestFromCurlConfig(config: string): SignedS3Request & { url: string } {
    const unquote = (value: string): string => {
        expect(value).toMatch(/^".*"$/);
        return value.slice(1, -1).replace(/\\(.)/g, "$1");
    };
    let url = "";
    let body = Buffer.alloc(0);
    const headers: Record<string, string> = {};
    for (const line of config.trimEnd().split("\n")) {
        const [, option, value] = /^([a-z-]+) = (.*)$/.exec(line) ?? [];
        if (option === "url") url = unquote(value ?? "");
        else if (option === "upload-file") body = fs.readFileSync(unquote(value ?? ""));
        else if (option === "header") {
            const header = unquote(value ?? "");
            const colon = header.indexOf(": ");
            headers[header.slice(0, colon).toLowerCase()] = header.slice(colon + 2);
        } else throw new Error(`unexpected curl config line ${line}`);
    }
    return { url, method: "PUT", target: new URL(url).pathname, headers, body };
}

describe("the write-once PUT's signature for real AWS endpoints", () => {
    let dir: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-sigv4-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    function sign(bucket: string, region: string, dnsSuffix: string, instanceArn: string, creds: object = credentials): { status: number | null; stdout: string; stderr: string; body: Buffer } {
        const bodyFile = path.join(dir, "luks.key");
        const body = crypto.randomBytes(64);
        fs.writeFileSync(bodyFile, body);
        const result = spawnSync(
            "python3",
            ["-c", signerSource(), bucket, keyObjectKey(instanceArn), region, dnsSuffix, "", bodyFile, KMS_KEY_ARN, INSTANCE_ARN_TAG, instanceArn],
            { input: JSON.stringify(creds), encoding: "utf8" },
        );
        return { status: result.status, stdout: result.stdout, stderr: result.stderr, body };
    }

    it.each([
        ["airlock-keys-abc1234", "eu-west-1", "amazonaws.com", "aws", "https://airlock-keys-abc1234.s3.eu-west-1.amazonaws.com"],
        ["airlock-keys-abc1234", "cn-north-1", "amazonaws.com.cn", "aws-cn", "https://airlock-keys-abc1234.s3.cn-north-1.amazonaws.com.cn"],
        ["airlock-keys-abc1234", "us-gov-west-1", "amazonaws.com", "aws-us-gov", "https://airlock-keys-abc1234.s3.us-gov-west-1.amazonaws.com"],
        ["airlock.keys.example", "eu-west-1", "amazonaws.com", "aws", "https://s3.eu-west-1.amazonaws.com/airlock.keys.example"],
    ])("bucket %s in %s (%s): HTTPS, the key URI-encoded once, a signature botocore computes the same", (bucket, region, dnsSuffix, partition, origin) => {
        const instanceArn = `arn:${partition}:ec2:${region}:123456789012:instance/i-0123456789abcdef0`;
        const signed = sign(bucket, region, dnsSuffix, instanceArn);
        expect(signed.stderr).toBe("");
        expect(signed.status).toBe(0);
        const request = requestFromCurlConfig(signed.stdout);
        expect(request.url).toBe(`${origin}/keys/arn%3A${partition}%3Aec2%3A${region}%3A123456789012%3Ainstance/i-0123456789abcdef0`);
        expect(request.body.equals(signed.body)).toBe(true);
        expect(request.headers).toEqual(
            expect.objectContaining({
                "if-none-match": "*",
                "x-amz-server-side-encryption": "aws:kms",
                "x-amz-server-side-encryption-aws-kms-key-id": KMS_KEY_ARN,
                "x-amz-tagging": `${encodeURIComponent(INSTANCE_ARN_TAG)}=${encodeURIComponent(instanceArn)}`,
                "x-amz-security-token": credentials.Token,
            }),
        );
        const expectation = {
            accessKeyId: credentials.AccessKeyId,
            secretAccessKey: credentials.SecretAccessKey,
            region,
            bucket,
            key: keyObjectKey(instanceArn),
            ...(bucket.includes(".") ? { endpoint: origin.replace(`/${bucket}`, "") } : { dnsSuffix }),
        };
        expect(checkS3Signature(request, expectation).problems).toEqual([]);
        // Not vacuous: the same request checked against another secret fails.
        expect(checkS3Signature(request, { ...expectation, secretAccessKey: credentials.SecretAccessKey.replace("K", "k") }).problems).toEqual([
            "signature does not match the one botocore computes",
        ]);
    });

    it("prints nothing and fails without credentials (the boot script then reports 'no role credentials to sign with')", () => {
        const signed = sign("airlock-keys-abc1234", "eu-west-1", "amazonaws.com", "arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0", { Code: "Success" });
        expect(signed.status).not.toBe(0);
        expect(signed.stdout).toBe("");
    });

    it("refuses a credential value that would break out of its curl config line", () => {
        const signed = sign("airlock-keys-abc1234", "eu-west-1", "amazonaws.com", "arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0", {
            ...credentials,
            Token: "token\nurl = \"https://attacker.example/\"",
        });
        expect(signed.status).not.toBe(0);
        expect(signed.stdout).toBe("");
    });
});
