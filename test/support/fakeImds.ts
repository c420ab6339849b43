/**
 * A fake EC2 instance metadata service, IMDSv2 only: a token from PUT /latest/api/token is
 * required on every GET (401 without, as with `HttpTokens: required`). Serves what the boot
 * script and the AWS CLI read: instance id, region, identity document, and the role's credentials.
 * Listens on 127.0.0.1 (reachable from a QEMU guest as 10.0.2.2).
 */
import * as crypto from "crypto";
import * as http from "http";
import type { AddressInfo } from "net";

export interface FakeImdsOptions {
    readonly instanceId: string;
    readonly region?: string;
    readonly accountId?: string;
    readonly roleName?: string;
    /** Credentials handed out for the role (any value works against moto). */
    readonly accessKeyId?: string;
    readonly secretAccessKey?: string;
}

export interface ImdsRequest {
    readonly method: string;
    readonly path: string;
    readonly withToken: boolean;
    readonly status: number;
}

export interface FakeImds {
    /** http://127.0.0.1:<port> */
    readonly endpoint: string;
    readonly port: number;
    readonly requests: ImdsRequest[];
    stop(): Promise<void>;
}

export async function startFakeImds(options: FakeImdsOptions): Promise<FakeImds> {
    const region = options.region ?? "eu-west-1";
    const accountId = options.accountId ?? "123456789012";
    const roleName = options.roleName ?? "airlock-instance";
    const tokens = new Set<string>();
    const requests: ImdsRequest[] = [];
    const sockets = new Set<import("net").Socket>();

    const documents: Record<string, string> = {
        "/latest/meta-data/instance-id": options.instanceId,
        "/latest/meta-data/placement/region": region,
        "/latest/meta-data/placement/availability-zone": `${region}a`,
        "/latest/meta-data/iam/security-credentials/": roleName,
        [`/latest/meta-data/iam/security-credentials/${roleName}`]: JSON.stringify({
            Code: "Success",
            LastUpdated: new Date().toISOString(),
            Type: "AWS-HMAC",
            AccessKeyId: options.accessKeyId ?? "ASIAFAKEIMDS00000001",
            SecretAccessKey: options.secretAccessKey ?? "fake-imds-secret-access-key",
            Token: "fake-imds-session-token",
            Expiration: new Date(Date.now() + 6 * 3600_000).toISOString().replace(/\.\d{3}Z$/, "Z"),
        }),
        "/latest/meta-data/iam/info": JSON.stringify({ Code: "Success", InstanceProfileArn: `arn:aws:iam::${accountId}:instance-profile/airlock/${roleName}` }),
        "/latest/dynamic/instance-identity/document": JSON.stringify({ instanceId: options.instanceId, region, accountId, availabilityZone: `${region}a` }),
    };

    const server = http.createServer((req, res) => {
        const path = (req.url ?? "/").split("?")[0] ?? "/";
        const answer = (status: number, body: string, headers: Record<string, string> = {}) => {
            requests.push({ method: req.method ?? "", path, withToken: typeof req.headers["x-aws-ec2-metadata-token"] === "string", status });
            res.writeHead(status, { "Content-Type": "text/plain", ...headers });
            res.end(body);
        };
        req.resume();
        req.on("end", () => {
            if (req.method === "PUT" && path === "/latest/api/token") {
                const ttl = Number(req.headers["x-aws-ec2-metadata-token-ttl-seconds"]);
                if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) {
                    return answer(400, "missing or invalid X-aws-ec2-metadata-token-ttl-seconds");
                }
                const token = crypto.randomBytes(24).toString("base64");
                tokens.add(token);
                return answer(200, token, { "X-aws-ec2-metadata-token-ttl-seconds": String(ttl) });
            }
            if (req.method !== "GET") {
                return answer(405, "");
            }
            const token = req.headers["x-aws-ec2-metadata-token"];
            if (typeof token !== "string" || !tokens.has(token)) {
                return answer(401, "");
            }
            const body = documents[path];
            return body === undefined ? answer(404, "") : answer(200, body);
        });
    });
    server.on("connection", (socket) => {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    return {
        endpoint: `http://127.0.0.1:${port}`,
        port,
        requests,
        async stop() {
            for (const socket of sockets) {
                socket.destroy();
            }
            await new Promise<void>((resolve) => server.close(() => resolve()));
        },
    };
}
