/**
 * Boots the Debian 12 test guest (test/vm/build-image.sh) under QEMU with software emulation, the
 * way EC2 would boot an Airlock instance: cloud-init user data from a NoCloud seed, the data volume
 * as an NVMe disk whose serial is the volume id without its hyphen (as on Nitro), user-mode
 * networking in which 10.0.2.2 is the host's loopback (so moto and fakes bound to 127.0.0.1 are
 * reachable from the guest), and the serial console in a log file.
 *
 *   const image = await ensureVmImage();                 // builds once per machine, then cached
 *   const vm = await bootVm({ image, userData, metaData: { instanceId }, dataDisk, dataDiskSerial: "vol0123…", timeoutMs });
 *   try {
 *       await vm.waitFor(/Cloud-init v\. \S+ finished/, 10 * 60_000);
 *       await vm.shutdown();                              // ACPI power button, then QEMU exits
 *       const again = await vm.reboot();                  // same overlay, seed and data disk
 *       ...
 *   } finally {
 *       await vm.dispose();                               // kills QEMU if needed, removes the session
 *   }
 *
 * Each bootVm() starts a session: a directory with a qcow2 overlay over the cached root image
 * (the cached image is never written), the seed ISO, and one console log per boot. reboot() boots
 * the same session again, so cloud-init finds the same instance-id and its per-instance state.
 * Set AIRLOCK_VM_KEEP=1 to keep session directories (their path is in vm.session.dir).
 *
 * QEMU never outlives the test process: it is started through `setpriv --pdeathsig SIGKILL` (dies
 * with its parent however the parent dies), every VM has a lifetime bound (timeoutMs), and an
 * exit handler on the real process kills what is left (jest's `process` is a copy whose "exit"
 * listeners never fire).
 */
import * as childProcess from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { killGroup, onRealExit, watchChild } from "./processes";


export const BUILD_SCRIPT = path.join(__dirname, "..", "vm", "build-image.sh");

export interface VmImage {
    /** The cache directory holding the image. */
    readonly dir: string;
    readonly name: string;
    /** Root filesystem (ext4 on the whole disk, no partition table), qcow2; read-only. */
    readonly rootImage: string;
    readonly rootFormat: "qcow2";
    readonly kernel: string;
    readonly initrd: string;
    readonly kernelVersion: string;
    /** manifest.json as written by build-image.sh. */
    readonly manifest: Readonly<Record<string, unknown>>;
}

export interface EnsureVmImageOptions {
    /** Where build-image.sh's output goes (appended). @default <tmpdir>/airlock-vm-build.log */
    readonly logFile?: string;
    /** @default 30 minutes */
    readonly timeoutMs?: number;
}

/** Runs build-image.sh (a no-op when the image is cached) and describes the image. */
export async function ensureVmImage(options: EnsureVmImageOptions = {}): Promise<VmImage> {
    const logFile = options.logFile ?? path.join(os.tmpdir(), "airlock-vm-build.log");
    const timeoutMs = options.timeoutMs ?? 30 * 60_000;
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    const logStart = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
    const log = fs.openSync(logFile, "a");
    fs.writeSync(log, `\n=== ${new Date().toISOString()} bash ${BUILD_SCRIPT}\n`);
    let stdout = "";
    const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }>((resolve, reject) => {
        const child = childProcess.spawn("bash", [BUILD_SCRIPT], { stdio: ["ignore", "pipe", log], detached: true });
        const unregister = onRealExit(() => killGroup(child.pid, "SIGKILL"));
        let timedOut = false;
        const timer = setTimeout(() => {
            timedOut = true;
            killGroup(child.pid, "SIGTERM");
            setTimeout(() => killGroup(child.pid, "SIGKILL"), 10_000).unref();
        }, timeoutMs);
        child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
            stdout += chunk;
            fs.writeSync(log, chunk);
        });
        child.once("error", (error) => {
            clearTimeout(timer);
            unregister();
            reject(error);
        });
        child.once("close", (code, signal) => {
            clearTimeout(timer);
            unregister();
            resolve({ code, signal, timedOut });
        });
    }).finally(() => fs.closeSync(log));

    const dir = /^AIRLOCK_VM_IMAGE_DIR=(.+)$/m.exec(stdout)?.[1]?.trim();
    if (result.code !== 0 || dir === undefined) {
        const output = fs.readFileSync(logFile, "utf8").slice(logStart);
        const why = result.timedOut ? `timed out after ${timeoutMs} ms` : `exited with code ${result.code}, signal ${result.signal}`;
        throw new Error(`build-image.sh ${why} (full log: ${logFile}).\n--- last lines ---\n${tailLines(output, 60)}`);
    }
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")) as Record<string, unknown>;
    return {
        dir,
        name: String(manifest.name),
        rootImage: path.join(dir, "root.qcow2"),
        rootFormat: "qcow2",
        kernel: path.join(dir, "vmlinuz"),
        initrd: path.join(dir, "initrd.img"),
        kernelVersion: String(manifest.kernelVersion),
        manifest,
    };
}

export interface BootVmOptions {
    readonly image: VmImage;
    /** The user data, exactly as EC2 would hand it over (e.g. a #cloud-config document). */
    readonly userData: string;
    /** NoCloud meta-data. @default a random i-… instance id */
    readonly metaData?: { readonly instanceId: string; readonly localHostname?: string };
    /** A raw image file attached as the NVMe data volume (written by the guest). */
    readonly dataDisk: string;
    /** The NVMe controller's serial, e.g. "vol0123456789abcdef0" (≤ 20 characters, as on Nitro). */
    readonly dataDiskSerial: string;
    /** Lifetime bound of each boot: QEMU is killed after it. */
    readonly timeoutMs: number;
    /** @default 1024 */
    readonly memoryMb?: number;
    /** @default 2 */
    readonly cpus?: number;
    /** Extra kernel command line. */
    readonly kernelArgs?: string;
}

export interface VmSession {
    readonly dir: string;
    readonly overlay: string;
    readonly seed: string;
    readonly instanceId: string;
}

export interface Vm {
    readonly session: VmSession;
    /** 1 for the first boot of the session, 2 after one reboot, … */
    readonly bootNumber: number;
    readonly pid: number;
    /** This boot's serial console log file (raw). */
    readonly consolePath: string;
    /** This boot's console so far, without terminal escape sequences and carriage returns. */
    console(): string;
    /** Resolves with the console line that matches (the whole line), once it appears; rejects with the console's tail when QEMU exits first or on timeout. */
    waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
    /** ACPI power-off (QEMU monitor `system_powerdown`, repeated), then waits for QEMU to exit; kills it and rejects when it does not within timeoutMs (default 3 minutes). */
    shutdown(timeoutMs?: number): Promise<void>;
    /** shutdown(), then boots the same session again (same overlay, seed and data disk). */
    reboot(): Promise<Vm>;
    /** SIGKILL, then waits for QEMU to exit. Idempotent. */
    kill(): Promise<void>;
    /** True once QEMU has exited. */
    exited(): boolean;
    /** kill(), then removes the session directory (unless AIRLOCK_VM_KEEP=1). */
    dispose(): Promise<void>;
}

/** Every QEMU still running and every session directory to remove, for the exit handler. */
const livePids = new Set<number>();
const liveSessionDirs = new Set<string>();
let exitHandlerInstalled = false;
function installExitHandler(): void {
    if (exitHandlerInstalled) return;
    exitHandlerInstalled = true;
    onRealExit(() => {
        for (const pid of livePids) {
            try {
                process.kill(pid, "SIGKILL");
            } catch {
                // Gone.
            }
        }
        if (process.env.AIRLOCK_VM_KEEP !== "1") {
            for (const dir of liveSessionDirs) fs.rmSync(dir, { recursive: true, force: true });
        }
    });
}

const SERIAL_PATTERN = /^[A-Za-z0-9-]{1,20}$/;
const INSTANCE_ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;

/** Starts a new session and its first boot. Resolves once QEMU runs (its monitor answers), not when the guest has booted. */
export async function bootVm(options: BootVmOptions): Promise<Vm> {
    if (!SERIAL_PATTERN.test(options.dataDiskSerial)) {
        throw new Error(`bootVm: dataDiskSerial ${JSON.stringify(options.dataDiskSerial)} must be 1-20 letters, digits or hyphens (an NVMe serial)`);
    }
    const dataDisk = path.resolve(options.dataDisk);
    if (!fs.statSync(dataDisk).isFile()) {
        throw new Error(`bootVm: dataDisk ${dataDisk} is not a file`);
    }
    const instanceId = options.metaData?.instanceId ?? `i-${crypto.randomBytes(9).toString("hex").slice(0, 17)}`;
    if (!INSTANCE_ID_PATTERN.test(instanceId)) {
        throw new Error(`bootVm: instanceId ${JSON.stringify(instanceId)} is not a plain identifier`);
    }
    installExitHandler();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-vm-"));
    liveSessionDirs.add(dir);
    try {
        const overlay = path.join(dir, "overlay.qcow2");
        const seed = path.join(dir, "seed.iso");
        await run("qemu-img", ["create", "-q", "-f", "qcow2", "-F", options.image.rootFormat, "-b", options.image.rootImage, overlay]);
        fs.writeFileSync(path.join(dir, "user-data"), options.userData);
        const hostname = options.metaData?.localHostname ?? "airlock-vm";
        fs.writeFileSync(path.join(dir, "meta-data"), `instance-id: ${instanceId}\nlocal-hostname: ${hostname}\n`);
        await run("cloud-localds", [seed, path.join(dir, "user-data"), path.join(dir, "meta-data")]);
        const session: VmSession = { dir, overlay, seed, instanceId };
        return await startBoot({ ...options, dataDisk }, session, 1);
    } catch (error) {
        fs.rmSync(dir, { recursive: true, force: true });
        liveSessionDirs.delete(dir);
        throw error;
    }
}

async function startBoot(options: BootVmOptions, session: VmSession, bootNumber: number): Promise<Vm> {
    for (const file of [session.dir, options.image.kernel, options.image.initrd, options.image.rootImage, options.dataDisk]) {
        // QEMU's -drive/-serial syntax splits on commas.
        if (file.includes(",")) throw new Error(`bootVm: path ${file} contains a comma`);
    }
    const consolePath = path.join(session.dir, `console-${bootNumber}.log`);
    const qemuLog = path.join(session.dir, `qemu-${bootNumber}.log`);
    const monitor = path.join(session.dir, "monitor.sock");
    fs.rmSync(monitor, { force: true });
    fs.writeFileSync(consolePath, "");
    const kernelArgs = ["root=/dev/vda", "rw", "console=ttyS0,115200", "panic=-1", options.kernelArgs ?? ""].join(" ").trim();
    const qemuArgs = [
        "-name", `airlock-vm-${path.basename(session.dir)}-${bootNumber}`,
        "-accel", "tcg", "-cpu", "max",
        "-m", String(options.memoryMb ?? 1024), "-smp", String(options.cpus ?? 2),
        "-nographic", "-no-reboot",
        "-kernel", options.image.kernel, "-initrd", options.image.initrd, "-append", kernelArgs,
        // Order matters: the root disk is the first virtio-blk device (/dev/vda), the seed the second.
        "-drive", `file=${session.overlay},if=virtio,format=qcow2`,
        "-drive", `file=${session.seed},if=virtio,format=raw,readonly=on`,
        "-drive", `file=${options.dataDisk},if=none,id=data,format=raw`,
        "-device", `nvme,serial=${options.dataDiskSerial},drive=data`,
        "-nic", "user,model=virtio-net-pci",
        "-device", "virtio-rng-pci",
        "-serial", `file:${consolePath}`,
        "-monitor", `unix:${monitor},server=on,wait=off`,
    ];
    const log = fs.openSync(qemuLog, "w");
    const useSetpriv = hasSetpriv();
    const [command, args] = useSetpriv
        ? ["setpriv", ["--pdeathsig", "SIGKILL", "--", "qemu-system-x86_64", ...qemuArgs]]
        : ["qemu-system-x86_64", qemuArgs];
    const child = childProcess.spawn(command, args, { stdio: ["ignore", log, log] });
    fs.closeSync(log);
    const started = Date.now();
    const { exited, exitInfo, spawnError } = watchChild(child);
    const pid = child.pid;
    if (pid === undefined) {
        throw new Error(`bootVm: could not start ${command}: ${(await spawnError).message}`);
    }
    livePids.add(pid);
    void exited.then(() => livePids.delete(pid));
    let killedForTimeout = false;
    const lifetime = setTimeout(() => {
        killedForTimeout = true;
        try {
            process.kill(pid, "SIGKILL");
        } catch {
            // Gone.
        }
    }, options.timeoutMs);
    lifetime.unref();
    void exited.then(() => clearTimeout(lifetime));

    // Incremental console reader.
    let raw = "";
    let offset = 0;
    const read = (): string => {
        const fd = fs.openSync(consolePath, "r");
        try {
            const buffer = Buffer.alloc(64 * 1024);
            for (;;) {
                const n = fs.readSync(fd, buffer, 0, buffer.length, offset);
                if (n <= 0) break;
                offset += n;
                raw += buffer.toString("latin1", 0, n);
            }
        } finally {
            fs.closeSync(fd);
        }
        return cleanConsole(raw);
    };
    const qemuOutput = (): string => (fs.existsSync(qemuLog) ? fs.readFileSync(qemuLog, "utf8").trim() : "");
    const describeExit = (): string =>
        killedForTimeout ? `QEMU was killed at the end of its lifetime (timeoutMs ${options.timeoutMs})` : `QEMU exited (${exitInfo()})`;

    // Ready when the monitor answers; fail fast when QEMU exits (bad arguments, missing files).
    for (;;) {
        if (exitInfo() !== undefined) {
            throw new Error(`bootVm: ${describeExit()} before its monitor answered.\n--- qemu ---\n${qemuOutput()}`);
        }
        if (fs.existsSync(monitor) && (await monitorCommand(monitor, "info status").then(() => true, () => false))) break;
        if (Date.now() - started > 30_000) {
            await killAndWait();
            throw new Error(`bootVm: QEMU's monitor did not answer within 30 s.\n--- qemu ---\n${qemuOutput()}`);
        }
        await sleep(100);
    }

    async function killAndWait(): Promise<void> {
        if (exitInfo() === undefined) {
            try {
                process.kill(pid!, "SIGKILL");
            } catch {
                // Gone.
            }
            await exited;
        }
    }

    let shuttingDown: Promise<void> | undefined;
    const self: Vm = {
        session,
        bootNumber,
        pid,
        consolePath,
        console: read,
        exited: () => exitInfo() !== undefined,
        async waitFor(pattern: RegExp, timeoutMs: number): Promise<string> {
            const end = Date.now() + timeoutMs;
            const matcher = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""));
            for (;;) {
                const text = read();
                const match = matcher.exec(text);
                if (match) {
                    const start = text.lastIndexOf("\n", match.index) + 1;
                    const stop = text.indexOf("\n", match.index + match[0].length);
                    return text.slice(start, stop === -1 ? undefined : stop);
                }
                const why = exitInfo() !== undefined ? describeExit() : Date.now() > end ? `not seen within ${timeoutMs} ms` : undefined;
                if (why !== undefined) {
                    throw new Error(
                        `VM boot ${bootNumber}: waiting for ${pattern}: ${why} (console: ${consolePath}).\n--- console tail ---\n${tailLines(read(), 60)}`,
                    );
                }
                await sleep(250);
            }
        },
        shutdown(timeoutMs = 3 * 60_000): Promise<void> {
            shuttingDown ??= (async () => {
                if (exitInfo() !== undefined) return;
                const end = Date.now() + timeoutMs;
                // The power button is lost while the guest has no ACPI handler yet (early boot): press again.
                while (exitInfo() === undefined && Date.now() < end) {
                    await monitorCommand(monitor, "system_powerdown").catch(() => undefined);
                    let timer: NodeJS.Timeout | undefined;
                    await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, Math.min(15_000, Math.max(0, end - Date.now())))))]);
                    clearTimeout(timer);
                }
                if (exitInfo() === undefined) {
                    await killAndWait();
                    throw new Error(`VM boot ${bootNumber}: no power-off within ${timeoutMs} ms; killed.\n--- console tail ---\n${tailLines(read(), 40)}`);
                }
            })();
            return shuttingDown;
        },
        async reboot(): Promise<Vm> {
            await self.shutdown();
            return startBoot(options, session, bootNumber + 1);
        },
        kill: killAndWait,
        async dispose(): Promise<void> {
            await killAndWait();
            if (process.env.AIRLOCK_VM_KEEP !== "1") {
                fs.rmSync(session.dir, { recursive: true, force: true });
                liveSessionDirs.delete(session.dir);
            }
        },
    };
    return self;
}

/** Sends one human-monitor command over the unix socket and resolves with what QEMU answered. */
function monitorCommand(socketPath: string, command: string, timeoutMs = 5000): Promise<string> {
    return new Promise((resolve, reject) => {
        const socket = net.createConnection(socketPath);
        let output = "";
        let sent = false;
        const timer = setTimeout(() => {
            socket.destroy();
            reject(new Error(`QEMU monitor: no answer to ${command}`));
        }, timeoutMs);
        socket.setEncoding("utf8");
        socket.on("data", (chunk: string) => {
            output += chunk;
            const prompts = output.split("(qemu) ").length - 1;
            if (!sent && prompts >= 1) {
                sent = true;
                socket.write(`${command}\n`);
            } else if (sent && prompts >= 2) {
                clearTimeout(timer);
                socket.end();
                resolve(output);
            }
        });
        socket.on("error", (error) => {
            clearTimeout(timer);
            reject(error);
        });
    });
}

/** Console text without ANSI escape sequences and carriage returns. */
export function cleanConsole(text: string): string {
    // eslint-disable-next-line no-control-regex
    return text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, "").replace(/\x1b[()][A-Za-z0-9]/g, "").replace(/\r/g, "");
}

/**
 * Lines of a console that show a boot problem: cloud-init warnings, errors and Python tracebacks,
 * and systemd units that failed.
 */
export function bootProblems(consoleText: string): string[] {
    return consoleText
        .split("\n")
        .filter((line) => /\[(WARNING|ERROR|CRITICAL)\]|Traceback \(most recent call last\)|\[FAILED\]|Failed to start /.test(line));
}

export function tailLines(text: string, lines: number): string {
    return text.trimEnd().split("\n").slice(-lines).join("\n");
}

let setprivAvailable: boolean | undefined;
function hasSetpriv(): boolean {
    if (setprivAvailable === undefined) {
        const probe = childProcess.spawnSync("setpriv", ["--pdeathsig", "SIGKILL", "--", "true"], { stdio: "ignore" });
        setprivAvailable = probe.status === 0;
    }
    return setprivAvailable;
}

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

function run(command: string, args: readonly string[]): Promise<void> {
    return new Promise((resolve, reject) => {
        childProcess.execFile(command, args, { timeout: 60_000 }, (error, _stdout, stderr) => {
            if (error) reject(new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${stderr}`));
            else resolve();
        });
    });
}
