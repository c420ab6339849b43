/**
 * moto does not check signatures: a request signed wrongly passes the emulator and fails on AWS.
 * checkS3Signature() has botocore's S3 signer (test/support/s3_sigv4_check.py, run by the project's
 * .venv python, whose botocore comes with the pinned AWS CLI) recompute the signature of a request
 * as it was sent, and lists what S3 would refuse.
 */
import { spawnSync } from "child_process";
import * as path from "path";
import { VENV_BIN, awsCliPath } from "./moto";

export interface SignedS3Request {
    readonly method: string;
    /** Path and query as sent, still percent-encoded. */
    readonly target: string;
    /** Lower-case header names. */
    readonly headers: Readonly<Record<string, string>>;
    readonly body: Buffer;
}

export interface S3SignatureExpectation {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly region: string;
    readonly bucket: string;
    /** The object key, decoded. */
    readonly key: string;
    /** Path-style requests to this endpoint; without it, virtual-hosted on https://<bucket>.s3.<region>.<dnsSuffix>. */
    readonly endpoint?: string;
    readonly dnsSuffix?: string;
}

export interface S3SignatureCheck {
    /** What S3 would refuse; empty when the signature is right. */
    readonly problems: string[];
    readonly expectedSignature?: string;
    readonly signature?: string;
    readonly signedHeaders?: string[];
}

const CHECKER = path.join(__dirname, "s3_sigv4_check.py");

export function checkS3Signature(request: SignedS3Request, expectation: S3SignatureExpectation): S3SignatureCheck {
    awsCliPath(); // fails, saying how to provision, when .venv is not there
    const input = JSON.stringify({
        method: request.method,
        target: request.target,
        headers: request.headers,
        bodyBase64: request.body.toString("base64"),
        ...expectation,
    });
    const result = spawnSync(path.join(VENV_BIN, "python"), [CHECKER], { input, encoding: "utf8", timeout: 30_000 });
    if (result.status !== 0) {
        throw new Error(`s3_sigv4_check.py failed (${result.status ?? result.signal}): ${result.stderr}`);
    }
    return JSON.parse(result.stdout) as S3SignatureCheck;
}
