/**
 * A test server listening on 127.0.0.1 on a free port, which it can close at once: open
 * connections (keep-alive clients) are destroyed rather than waited for.
 */
import type * as http from "http";
import type { AddressInfo, Socket } from "net";

export interface Listening {
    readonly port: number;
    /** http://127.0.0.1:<port> */
    readonly endpoint: string;
    /** Destroys open connections and closes the server. */
    close(): Promise<void>;
}

export async function listenOnLoopback(server: http.Server): Promise<Listening> {
    const sockets = new Set<Socket>();
    server.on("connection", (socket) => {
        sockets.add(socket);
        socket.once("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    return {
        port,
        endpoint: `http://127.0.0.1:${port}`,
        close: () =>
            new Promise<void>((resolve) => {
                for (const socket of sockets) socket.destroy();
                server.close(() => resolve());
            }),
    };
}
