/**
 * Child-process plumbing shared by the test harnesses (moto, the provider host, QEMU): every
 * server a test starts must die with the test run, even when a test forgets to stop it.
 */
import type { ChildProcess } from "child_process";
import * as vm from "vm";

/** The real process: jest's global `process` is a copy on which "exit" listeners never fire. */
export const realProcess = vm.runInThisContext("process") as NodeJS.Process;

/** Runs `cleanup` when the test process exits; returns the function that unregisters it. */
export function onRealExit(cleanup: () => void): () => void {
    realProcess.on("exit", cleanup);
    return () => {
        realProcess.removeListener("exit", cleanup);
    };
}

/** Signals a whole process group (started with `detached: true`); a group already gone is fine. */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
    if (pid === undefined) return;
    try {
        process.kill(-pid, signal);
    } catch {
        // Already gone.
    }
}

export interface WatchedChild {
    /** Resolves when the child has exited. */
    readonly exited: Promise<void>;
    /** "code …, signal …" once it has exited, else undefined. */
    exitInfo(): string | undefined;
    /** Resolves with the error when the child could not be spawned at all. */
    readonly spawnError: Promise<Error>;
}

export function watchChild(child: ChildProcess): WatchedChild {
    let info: string | undefined;
    const exited = new Promise<void>((resolve) => {
        child.once("exit", (code, signal) => {
            info = `code ${code}, signal ${signal}`;
            resolve();
        });
    });
    const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
    return { exited, exitInfo: () => info, spawnError };
}
