/**
 * A loopback HTTP proxy in front of moto for the audit command's end-to-end tests, correcting two
 * things moto 5.2.1 does not do as AWS does (test/audit.iam.test.ts has the details):
 *
 * 1. The credential report: moto's CSV has no `<root_account>` row, so a real run of the
 *    root-and-users check against moto always ends in "no root row" (an error finding, exit 2).
 *    The proxy adds AWS's root row to GetCredentialReport's answer (the Content is base64 CSV in
 *    IAM's XML): root created 2015, password "not_supported" as AWS writes it, MFA active, no access
 *    keys, no certificates, for the account of the report's user rows (or of `rootAccountFor`).
 *    `rootRow` overrides its columns (e.g. an active root key).
 * 2. Bad credentials: moto accepts any access key. Requests signed with an access key id in
 *    `rejectAccessKeys` are answered as AWS answers an unknown key: HTTP 403, Query-protocol XML,
 *    code InvalidClientTokenId, "The security token included in the request is invalid." (STS
 *    GetCallerIdentity's answer to a key that does not exist), and never reach moto.
 * Everything else passes to moto unchanged.
 */
import * as http from "http";
import { listenOnLoopback } from "./loopback";

export interface AuditFrontOptions {
    /** moto's endpoint, e.g. http://127.0.0.1:5000 */
    readonly upstream: string;
    /** Access key ids answered with InvalidClientTokenId. */
    readonly rejectAccessKeys?: readonly string[];
    /** Columns of the root row to change (by the report's column names). */
    readonly rootRow?: Readonly<Record<string, string>>;
}

export interface AuditFront {
    /** http://127.0.0.1:<port> */
    readonly endpoint: string;
    /** Actions (Query protocol) seen, with the access key id that signed them, oldest first. */
    readonly calls: Array<{ readonly action: string; readonly accessKeyId: string; readonly rejected: boolean }>;
    stop(): Promise<void>;
}

const ROOT_CREATED = "2015-06-11T10:22:31+00:00";

/** AWS's root row, column by column (IAM User Guide, "Getting credential reports"). */
function rootRowValues(accountId: string, overrides: Readonly<Record<string, string>>): Record<string, string> {
    return {
        user: "<root_account>",
        arn: `arn:aws:iam::${accountId}:root`,
        user_creation_time: ROOT_CREATED,
        password_enabled: "not_supported",
        password_last_used: "2024-01-05T09:00:00+00:00",
        password_last_changed: "not_supported",
        password_next_rotation: "not_supported",
        mfa_active: "true",
        access_key_1_active: "false",
        access_key_1_last_rotated: "N/A",
        access_key_1_last_used_date: "N/A",
        access_key_1_last_used_region: "N/A",
        access_key_1_last_used_service: "N/A",
        access_key_2_active: "false",
        access_key_2_last_rotated: "N/A",
        access_key_2_last_used_date: "N/A",
        access_key_2_last_used_region: "N/A",
        access_key_2_last_used_service: "N/A",
        cert_1_active: "false",
        cert_1_last_rotated: "N/A",
        cert_2_active: "false",
        cert_2_last_rotated: "N/A",
        ...overrides,
    };
}

/** The CSV with the root row inserted after the header (where AWS puts it), unless it has one. */
export function withRootRow(csv: string, fallbackAccountId: string, overrides: Readonly<Record<string, string>> = {}): string {
    const lines = csv.split("\n").filter((l) => l !== "");
    const header = lines[0];
    if (header === undefined || lines.some((l) => l.startsWith("<root_account>,"))) {
        return csv;
    }
    const accountId = /arn:aws:iam::(\d{12}):user\//.exec(csv)?.[1] ?? fallbackAccountId;
    const values = rootRowValues(accountId, overrides);
    const row = header
        .split(",")
        .map((name) => values[name] ?? "N/A")
        .join(",");
    return [header, row, ...lines.slice(1)].join("\n") + "\n";
}

function accessKeyOf(req: http.IncomingMessage): string {
    return /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ""))?.[1] ?? "";
}

function actionOf(req: http.IncomingMessage, body: Buffer): string {
    const fromBody = /(?:^|&)Action=([^&]+)/.exec(body.toString("utf8"))?.[1];
    const fromUrl = /[?&]Action=([^&]+)/.exec(req.url ?? "")?.[1];
    return decodeURIComponent(fromBody ?? fromUrl ?? "");
}

export async function startAuditFront(options: AuditFrontOptions): Promise<AuditFront> {
    const upstream = new URL(options.upstream);
    const reject = new Set(options.rejectAccessKeys ?? []);
    const calls: AuditFront["calls"] = [];

    const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            const body = Buffer.concat(chunks);
            const action = actionOf(req, body);
            const accessKeyId = accessKeyOf(req);
            const rejected = reject.has(accessKeyId);
            calls.push({ action, accessKeyId, rejected });
            if (rejected) {
                const xml =
                    '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>' +
                    "<Message>The security token included in the request is invalid.</Message></Error><RequestId>5d1f3b0e-0000-4000-8000-000000000403</RequestId></ErrorResponse>";
                res.writeHead(403, { "content-type": "text/xml", "content-length": Buffer.byteLength(xml), "x-amzn-requestid": "5d1f3b0e-0000-4000-8000-000000000403" });
                res.end(xml);
                return;
            }
            const headers = { ...req.headers, host: upstream.host };
            const forward = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
                const parts: Buffer[] = [];
                answer.on("data", (c: Buffer) => parts.push(c));
                answer.on("end", () => {
                    let out = Buffer.concat(parts);
                    const outHeaders = { ...answer.headers };
                    if (action === "GetCredentialReport" && answer.statusCode === 200) {
                        const text = out.toString("utf8");
                        const content = /<Content>([^<]*)<\/Content>/.exec(text)?.[1];
                        if (content !== undefined) {
                            const csv = Buffer.from(content, "base64").toString("utf8");
                            const fixed = Buffer.from(withRootRow(csv, String(req.headers["x-moto-account-id"] ?? "123456789012"), options.rootRow)).toString("base64");
                            out = Buffer.from(text.replace(`<Content>${content}</Content>`, `<Content>${fixed}</Content>`));
                            delete outHeaders["transfer-encoding"];
                            outHeaders["content-length"] = String(out.length);
                        }
                    }
                    res.writeHead(answer.statusCode ?? 502, outHeaders);
                    res.end(out);
                });
            });
            forward.on("error", (e) => {
                res.writeHead(502, { "content-type": "text/plain" });
                res.end(`audit front: moto unreachable: ${e.message}`);
            });
            forward.end(body);
        });
    });
    const listening = await listenOnLoopback(server);
    return { endpoint: listening.endpoint, calls, stop: () => listening.close() };
}
