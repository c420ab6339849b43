/**
 * A loopback HTTP proxy in front of moto that records every request exactly as the client sent it
 * (method, request target still percent-encoded, headers, body) and the status moto answered, then
 * passes the answer back unchanged. The boot path's tests point the instance's AWS endpoint at it to
 * see what the boot script really sends (the write-once PUT and its signature, that the unlock
 * never writes); a QEMU guest reaches it at http://10.0.2.2:<port> (guestEndpoint).
 */
import * as http from "http";
import { listenOnLoopback } from "./loopback";

export interface CapturedRequest {
    readonly method: string;
    /** The request target as sent: path and query, still percent-encoded. */
    readonly target: string;
    /** Header names lower-cased (Node's parsing); the Host header is the one the client sent. */
    readonly headers: Readonly<Record<string, string>>;
    readonly body: Buffer;
    /** What moto answered (502 when it could not be reached). */
    readonly status: number;
    readonly at: Date;
}

export interface CapturingProxy {
    /** http://127.0.0.1:<port> */
    readonly endpoint: string;
    readonly port: number;
    /** What a QEMU user-net guest uses: http://10.0.2.2:<port> */
    readonly guestEndpoint: string;
    /** Every request so far, oldest first (a live array). */
    readonly requests: readonly CapturedRequest[];
    /** The S3 PUTs of an object whose decoded key is `key`. */
    putsOf(bucket: string, key: string): CapturedRequest[];
    /** Forgets the requests recorded so far. */
    clear(): void;
    /** Stops listening and drops open connections. Idempotent. */
    stop(): Promise<void>;
}

/** The bucket and decoded key of a path-style S3 request target, or undefined. */
export function s3ObjectOf(target: string): { bucket: string; key: string } | undefined {
    const path = target.split("?")[0] ?? "";
    const match = /^\/([^/]+)\/(.+)$/.exec(path);
    return match ? { bucket: decodeURIComponent(match[1] ?? ""), key: decodeURIComponent(match[2] ?? "") } : undefined;
}

export async function startCapturingProxy(target: string): Promise<CapturingProxy> {
    const upstream = new URL(target);
    const recorded: CapturedRequest[] = [];

    const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (chunk: Buffer) => chunks.push(chunk));
        req.on("end", () => {
            const body = Buffer.concat(chunks);
            const headers: Record<string, string> = {};
            for (const [name, value] of Object.entries(req.headers)) {
                if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
            }
            const record = (status: number): void => {
                recorded.push({ method: req.method ?? "", target: req.url ?? "/", headers, body, status, at: new Date() });
            };
            const forward = http.request(
                { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
                (upstreamRes) => {
                    record(upstreamRes.statusCode ?? 502);
                    res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
                    upstreamRes.pipe(res);
                },
            );
            forward.on("error", (error) => {
                record(502);
                res.writeHead(502);
                res.end(String(error));
            });
            forward.end(body);
        });
    });
    const listening = await listenOnLoopback(server);
    const port = listening.port;
    let stopping: Promise<void> | undefined;
    return {
        endpoint: listening.endpoint,
        port,
        guestEndpoint: `http://10.0.2.2:${port}`,
        requests: recorded,
        putsOf(bucket, key) {
            return recorded.filter((r) => {
                const object = s3ObjectOf(r.target);
                return r.method === "PUT" && object?.bucket === bucket && object.key === key && !r.target.includes("?");
            });
        },
        clear() {
            recorded.splice(0);
        },
        stop() {
            stopping ??= listening.close();
            return stopping;
        },
    };
}
