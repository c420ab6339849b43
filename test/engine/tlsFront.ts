/**
 * An HTTPS front for a loopback HTTP fake (the scripted Tenable): Airlock only accepts an https://
 * scanner URL, so the engine tests reach the fake the way users reach an internal Nessus Manager,
 * through TLS with a certificate of a private CA, trusted by NODE_EXTRA_CA_CERTS in the
 * environment of `pulumi` (which the promotion provider's process inherits).
 *
 * The certificate is self-signed for IP 127.0.0.1, made by openssl for each front.
 */
import * as childProcess from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as tls from "tls";

export interface TlsFront {
    /** https://127.0.0.1:<port> */
    readonly url: string;
    /** The certificate to trust (PEM): put it in NODE_EXTRA_CA_CERTS. */
    readonly caFile: string;
    stop(): Promise<void>;
}

export async function startTlsFront(backendUrl: string): Promise<TlsFront> {
    const backend = new URL(backendUrl);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-tls-"));
    const keyFile = path.join(dir, "key.pem");
    const certFile = path.join(dir, "cert.pem");
    childProcess.execFileSync(
        "openssl",
        ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "1", "-subj", "/CN=airlock-test-scanner", "-addext", "subjectAltName=IP:127.0.0.1"],
        { stdio: "ignore" },
    );
    const sockets = new Set<net.Socket>();
    const server = tls.createServer({ key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) }, (client) => {
        const upstream = net.connect(Number(backend.port), backend.hostname);
        sockets.add(client).add(upstream);
        const forget = (): void => {
            sockets.delete(client);
            sockets.delete(upstream);
            client.destroy();
            upstream.destroy();
        };
        client.on("error", forget).on("close", forget);
        upstream.on("error", forget).on("close", forget);
        client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    return {
        url: `https://127.0.0.1:${port}`,
        caFile: certFile,
        async stop() {
            for (const s of sockets) s.destroy();
            await new Promise<void>((resolve) => server.close(() => resolve()));
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}
