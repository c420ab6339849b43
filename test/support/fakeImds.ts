/**
 * A fake EC2 instance metadata service, IMDSv2 only (like the Airlock's instances: HttpTokens
 * required), for guests booted by test/support/vm.ts. It listens on 127.0.0.1; a QEMU guest with
 * user-mode networking reaches it at http://10.0.2.2:<port> (see guestEndpoint).
 *
 *   PUT /latest/api/token                      needs X-aws-ec2-metadata-token-ttl-seconds (1-21600), answers a token;
 *                                              refused (403) with X-Forwarded-For, like the real service
 *   GET /latest/meta-data/instance-id          every GET needs a live token in X-aws-ec2-metadata-token (401 without)
 *   GET /latest/meta-data/placement/region, …/placement/availability-zone, …/ami-id, …/instance-type, …/local-ipv4
 *   GET /latest/meta-data/services/partition, …/services/domain   e.g. "aws" and "amazonaws.com" (aws-cn: amazonaws.com.cn)
 *   GET /latest/meta-data/iam/info
 *   GET /latest/meta-data/iam/security-credentials/          the role name
 *   GET /latest/meta-data/iam/security-credentials/<role>    the role's credentials (JSON, as EC2 sends them)
 *   GET /latest/dynamic/instance-identity/document
 *   GET /latest/meta-data/tags/instance                     the instance's tag keys, one per line (instanceMetadataTags enabled)
 *   GET /latest/meta-data/tags/instance/<key>               a tag's value as it is; 404 while the tag is not set
 *                                                           (keys as they are in the path: "airlock:data-volume")
 *
 * Instance tags (options.instanceTags) are there from the start, appear after a
 * delay (as when Pulumi tags the instance just after it starts, and as IMDS shows tags late), or are
 * absent (404). With instanceMetadataTags false, meta-data/tags and everything below answer 404, as
 * on an instance launched with `instanceMetadataTags: "disabled"`. (With the option enabled and no
 * tags at all, the fake answers an empty list; Airlock's instances always carry tags.)
 *
 * Every request is recorded (requests) with whether it carried a valid token and what it was answered.
 */
import * as crypto from "crypto";
import * as http from "http";

/** An instance tag: its value from the start, or a value that appears after a delay. */
export type FakeInstanceTag =
    | string
    | {
          readonly value: string;
          readonly afterMs: number;
          /** What the delay counts from: the server's start, or the first request under meta-data/tags. @default "start" */
          readonly from?: "start" | "first-read";
      };

export interface FakeImdsOptions {
    readonly instanceId: string;
    /** @default "eu-west-1" (moto's region) */
    readonly region?: string;
    readonly roleName: string;
    readonly accountId?: string;
    /** meta-data/services/partition. @default "aws" */
    readonly partition?: string;
    /** meta-data/services/domain, the partition's DNS suffix. @default "amazonaws.com" */
    readonly dnsSuffix?: string;
    readonly availabilityZone?: string;
    readonly imageId?: string;
    readonly instanceType?: string;
    readonly privateIp?: string;
    /** The role credentials handed out. @default test values moto accepts */
    readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly token: string };
    /** Instance tags in the metadata service, by key; a key not here answers 404. @default none */
    readonly instanceTags?: Readonly<Record<string, FakeInstanceTag>>;
    /** The instance's `instanceMetadataTags`: false answers 404 for meta-data/tags and below. @default true */
    readonly instanceMetadataTags?: boolean;
}

export interface ImdsRequest {
    readonly method: string;
    readonly path: string;
    /** The X-aws-ec2-metadata-token header, if any. */
    readonly token?: string;
    /** True when the request carried a token this server issued and that has not expired. */
    readonly tokenValid: boolean;
    /** Same as tokenValid (the name test/bootPath.test.ts uses). */
    readonly withToken: boolean;
    readonly status: number;
    readonly userAgent?: string;
    readonly remoteAddress?: string;
    readonly at: Date;
}

export interface FakeImds {
    /** http://127.0.0.1:<port> */
    readonly endpoint: string;
    readonly port: number;
    /** What a QEMU user-net guest uses: http://10.0.2.2:<port> */
    readonly guestEndpoint: string;
    readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly token: string };
    /** Every request so far, oldest first (a live array). */
    readonly requests: readonly ImdsRequest[];
    /** Stops listening and drops open connections. Idempotent. */
    stop(): Promise<void>;
    /** Same as stop(). */
    close(): Promise<void>;
}

const MAX_TTL_SECONDS = 21600;

export async function startFakeImds(options: FakeImdsOptions): Promise<FakeImds> {
    const credentials = options.credentials ?? {
        accessKeyId: "ASIAFAKEIMDSROLE0001",
        secretAccessKey: "fake-imds-secret-access-key",
        token: `fake-imds-session-token-${crypto.randomBytes(8).toString("hex")}`,
    };
    const region = options.region ?? "eu-west-1";
    const accountId = options.accountId ?? "123456789012";
    const partition = options.partition ?? "aws";
    const dnsSuffix = options.dnsSuffix ?? "amazonaws.com";
    const availabilityZone = options.availabilityZone ?? `${region}a`;
    const imageId = options.imageId ?? "ami-12c6146b";
    const instanceType = options.instanceType ?? "t3.micro";
    const privateIp = options.privateIp ?? "10.42.1.10";
    const started = new Date();
    const tokens = new Map<string, number>(); // token → expiry (ms since epoch)
    const recorded: ImdsRequest[] = [];
    const tagsEnabled = options.instanceMetadataTags ?? true;
    /** Tags as set: a value and when it becomes visible (ms since epoch; undefined: at the first tag read plus delay). */
    const tags = new Map<string, { value: string; visibleAt?: number; afterFirstReadMs?: number }>();
    for (const [key, tag] of Object.entries(options.instanceTags ?? {})) {
        if (typeof tag === "string") tags.set(key, { value: tag, visibleAt: 0 });
        else if (tag.from === "first-read") tags.set(key, { value: tag.value, afterFirstReadMs: tag.afterMs });
        else tags.set(key, { value: tag.value, visibleAt: started.getTime() + tag.afterMs });
    }
    let firstTagRead: number | undefined;
    /** The tags the metadata service shows now, in the order they were set. */
    const visibleTags = (): Map<string, string> => {
        const now = Date.now();
        const visible = new Map<string, string>();
        for (const [key, tag] of tags) {
            const at = tag.visibleAt ?? (firstTagRead === undefined ? undefined : firstTagRead + (tag.afterFirstReadMs ?? 0));
            if (at !== undefined && at <= now) visible.set(key, tag.value);
        }
        return visible;
    };
    /** The answer under meta-data/tags, or undefined for 404. */
    const tagsAnswer = (pathname: string): string | undefined => {
        if (!tagsEnabled) return undefined;
        firstTagRead ??= Date.now();
        const rest = pathname.slice("/latest/meta-data/tags".length);
        if (rest === "" || rest === "/") return "instance";
        if (rest === "/instance" || rest === "/instance/") return [...visibleTags().keys()].join("\n");
        if (!rest.startsWith("/instance/")) return undefined;
        let key = rest.slice("/instance/".length);
        try {
            key = decodeURIComponent(key);
        } catch {
            return undefined;
        }
        return visibleTags().get(key);
    };

    const metaData = (): Record<string, string> => {
        const now = new Date();
        const credentialsDocument = JSON.stringify(
            {
                Code: "Success",
                LastUpdated: now.toISOString().replace(/\.\d+Z$/, "Z"),
                Type: "AWS-HMAC",
                AccessKeyId: credentials.accessKeyId,
                SecretAccessKey: credentials.secretAccessKey,
                Token: credentials.token,
                Expiration: new Date(now.getTime() + 6 * 3600_000).toISOString().replace(/\.\d+Z$/, "Z"),
            },
            null,
            2,
        );
        return {
            "/latest/meta-data/instance-id": options.instanceId,
            "/latest/meta-data/placement/region": region,
            "/latest/meta-data/placement/availability-zone": availabilityZone,
            "/latest/meta-data/ami-id": imageId,
            "/latest/meta-data/instance-type": instanceType,
            "/latest/meta-data/local-ipv4": privateIp,
            "/latest/meta-data/services/": ["domain", "partition"].join("\n"),
            "/latest/meta-data/services/partition": partition,
            "/latest/meta-data/services/domain": dnsSuffix,
            "/latest/meta-data/iam/info": JSON.stringify(
                {
                    Code: "Success",
                    LastUpdated: now.toISOString().replace(/\.\d+Z$/, "Z"),
                    InstanceProfileArn: `arn:${partition}:iam::${accountId}:instance-profile/${options.roleName}`,
                    InstanceProfileId: "AIPAFAKEIMDSPROFILE01",
                },
                null,
                2,
            ),
            "/latest/meta-data/iam/security-credentials/": options.roleName,
            "/latest/meta-data/iam/security-credentials": options.roleName,
            [`/latest/meta-data/iam/security-credentials/${options.roleName}`]: credentialsDocument,
            "/latest/dynamic/instance-identity/document": JSON.stringify(
                {
                    accountId,
                    architecture: "x86_64",
                    availabilityZone,
                    imageId,
                    instanceId: options.instanceId,
                    instanceType,
                    pendingTime: started.toISOString().replace(/\.\d+Z$/, "Z"),
                    privateIp,
                    region,
                    version: "2017-09-30",
                },
                null,
                2,
            ),
            "/latest/meta-data/": ["ami-id", "iam/", "instance-id", "instance-type", "local-ipv4", "placement/", "services/", ...(tagsEnabled ? ["tags/"] : [])].join("\n"),
        };
    };

    const server = http.createServer((request, response) => {
        const url = new URL(request.url ?? "/", "http://imds");
        const pathname = url.pathname;
        const tokenHeader = request.headers["x-aws-ec2-metadata-token"];
        const token = Array.isArray(tokenHeader) ? tokenHeader[0] : tokenHeader;
        const expiry = token === undefined ? undefined : tokens.get(token);
        const tokenValid = expiry !== undefined && expiry > Date.now();
        const answer = (status: number, body: string, headers: Record<string, string> = {}): void => {
            recorded.push({
                method: request.method ?? "",
                path: pathname + url.search,
                token,
                tokenValid,
                withToken: tokenValid,
                status,
                userAgent: request.headers["user-agent"],
                remoteAddress: request.socket.remoteAddress,
                at: new Date(),
            });
            response.writeHead(status, { "Content-Type": "text/plain", "Content-Length": String(Buffer.byteLength(body)), ...headers });
            response.end(request.method === "HEAD" ? undefined : body);
        };
        // Drain any body before answering.
        request.resume();
        request.on("end", () => {
            if (pathname === "/latest/api/token") {
                if (request.method !== "PUT") return answer(405, "Method Not Allowed");
                if (request.headers["x-forwarded-for"] !== undefined) return answer(403, "Forbidden");
                const ttl = Number(request.headers["x-aws-ec2-metadata-token-ttl-seconds"]);
                if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) return answer(400, "Bad Request");
                const issued = crypto.randomBytes(42).toString("base64");
                tokens.set(issued, Date.now() + ttl * 1000);
                return answer(200, issued, { "X-aws-ec2-metadata-token-ttl-seconds": String(ttl) });
            }
            if (request.method !== "GET" && request.method !== "HEAD") return answer(405, "Method Not Allowed");
            if (!tokenValid) return answer(401, "Unauthorized");
            const body = pathname === "/latest/meta-data/tags" || pathname.startsWith("/latest/meta-data/tags/") ? tagsAnswer(pathname) : metaData()[pathname];
            if (body === undefined) return answer(404, "Not Found");
            const json = body.startsWith("{");
            return answer(200, body, json ? { "Content-Type": "application/json" } : {});
        });
    });
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
    });
    const address = server.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    let closing: Promise<void> | undefined;
    const stop = (): Promise<void> => {
        closing ??= new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
        });
        return closing;
    };
    return {
        endpoint: `http://127.0.0.1:${port}`,
        port,
        guestEndpoint: `http://10.0.2.2:${port}`,
        credentials,
        requests: recorded,
        stop,
        close: stop,
    };
}
