/**
 * A loopback HTTP proxy in front of moto that injects AWS faults into Query-protocol calls (EC2,
 * IAM, STS: the `Action` form field): throttling, 5xx, access denied, in the services' own error
 * formats, so the real SDK classifies and retries them as it would against AWS. It can also call
 * back just before or just after forwarding a given call, which is how tests crash the provider
 * host between two steps.
 */
import * as http from "http";
import type { AddressInfo } from "net";

export type AwsFaultKind = "throttling" | "5xx" | "access-denied";

export interface FaultRule {
    readonly action: string;
    readonly fault: AwsFaultKind;
    /** How many matching calls fail; every one when omitted. */
    readonly times?: number;
}

export interface CrashPoint {
    readonly action: string;
    /** 1-based: the n-th call of that action. */
    readonly nth: number;
    readonly when: "before" | "after";
    /** Runs at that point; the proxy then drops the connection instead of answering. */
    readonly crash: () => void;
}

export interface FaultProxy {
    readonly endpoint: string;
    /** Every Query-protocol call seen, in order, with whether it was faulted. */
    readonly calls: Array<{ action: string; service: string; faulted: boolean }>;
    setRules(rules: readonly FaultRule[]): void;
    setCrash(point: CrashPoint | undefined): void;
    stop(): Promise<void>;
}

function serviceOf(req: http.IncomingMessage): string {
    const auth = String(req.headers.authorization ?? "");
    return /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(auth)?.[1] ?? "unknown";
}

function errorResponse(service: string, fault: AwsFaultKind): { status: number; body: string } {
    const [status, code, message, type] =
        fault === "throttling"
            ? service === "ec2"
                ? [503, "RequestLimitExceeded", "Request limit exceeded.", "Sender"]
                : [400, "Throttling", "Rate exceeded", "Sender"]
            : fault === "5xx"
              ? [500, service === "ec2" ? "InternalError" : "ServiceFailure", "An internal error has occurred.", "Receiver"]
              : service === "ec2"
                ? [403, "UnauthorizedOperation", "You are not authorized to perform this operation.", "Sender"]
                : [403, "AccessDenied", "User is not authorized to perform this action.", "Sender"];
    const body =
        service === "ec2"
            ? `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>`
            : `<ErrorResponse><Error><Type>${type}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>`;
    return { status: Number(status), body };
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
    const upstream = new URL(target);
    let rules: Array<FaultRule & { used: number }> = [];
    let crash: CrashPoint | undefined;
    const seen = new Map<string, number>();
    const calls: FaultProxy["calls"] = [];
    const sockets = new Set<import("net").Socket>();

    const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            const body = Buffer.concat(chunks);
            const url = new URL(req.url ?? "/", "http://proxy");
            const action = new URLSearchParams(body.toString("utf8")).get("Action") ?? url.searchParams.get("Action") ?? "";
            const service = serviceOf(req);
            const rule = action === "" ? undefined : rules.find((r) => r.action === action && (r.times === undefined || r.used < r.times));
            if (rule !== undefined) {
                rule.used++;
                calls.push({ action, service, faulted: true });
                const { status, body: errorBody } = errorResponse(service, rule.fault);
                res.writeHead(status, { "Content-Type": "text/xml", "Content-Length": Buffer.byteLength(errorBody) });
                res.end(errorBody);
                return;
            }
            if (action !== "") {
                calls.push({ action, service, faulted: false });
                seen.set(action, (seen.get(action) ?? 0) + 1);
            }
            const crashHere = crash !== undefined && crash.action === action && crash.nth === seen.get(action) ? crash : undefined;
            if (crashHere?.when === "before") {
                crashHere.crash();
                req.socket.destroy();
                return;
            }
            const forward = http.request(
                { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
                (upstreamRes) => {
                    if (crashHere?.when === "after") {
                        // The call reached AWS; the caller never learns the answer.
                        upstreamRes.resume();
                        upstreamRes.on("end", () => {
                            crashHere.crash();
                            req.socket.destroy();
                        });
                        return;
                    }
                    res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
                    upstreamRes.pipe(res);
                },
            );
            forward.on("error", (err) => {
                res.writeHead(502);
                res.end(String(err));
            });
            forward.end(body);
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
        calls,
        setRules(next) {
            rules = next.map((r) => ({ ...r, used: 0 }));
        },
        setCrash(point) {
            crash = point;
            seen.clear();
        },
        async stop() {
            for (const socket of sockets) {
                socket.destroy();
            }
            await new Promise<void>((resolve) => server.close(() => resolve()));
        },
    };
}
