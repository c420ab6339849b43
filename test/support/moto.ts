/**
 * moto in server mode for tests that want real AWS API calls without AWS: `startMoto()` runs
 * `moto_server` (moto 5.2.1, from the project-local .venv) on a free 127.0.0.1 port and hands back
 * its endpoint, an environment for SDK clients and the provider process, reset() and stop().
 *
 * moto's server and the AWS CLI (`aws`) come from the project's own virtual environment, .venv,
 * which test/setup/provision.sh creates from test/setup/requirements.txt (exact pins, hashed) and
 * `npm test` runs first: never from PATH, where another moto or AWS CLI would silently change what
 * the tests prove. motoServerPath()/awsCliPath() fail at once, saying how to provision, when
 * .venv is not there; processes that run `aws` by name (the boot script) get pathWithVenv().
 *
 *   const moto = await startMoto();
 *   try {
 *       const seeded = await seedAirlockInstance(moto);
 *       const ec2 = new EC2Client(awsClientConfig(moto));      // read state back
 *       ... code under test with moto.env merged into process.env (minus AWS_PROFILE/AWS_SESSION_TOKEN) ...
 *   } finally {
 *       await moto.stop();
 *   }
 *
 * What moto 5.2.1 really does (checked by test/moto.test.ts, keep both in step):
 *   - EC2 ModifyInstanceAttribute with Groups replaces the instance's security groups and
 *     DescribeInstances shows the new ones (Instances[].SecurityGroups and NetworkInterfaces[].Groups).
 *   - EC2 CreateTags: the tags appear in DescribeInstances (Instances[].Tags).
 *   - IAM PutRolePolicy / GetRolePolicy / DeleteRolePolicy work; GetRolePolicy returns the
 *     PolicyDocument URL-encoded (like AWS), the SDK does not decode it; a missing policy or role
 *     is NoSuchEntityException (error name "NoSuchEntityException", code NoSuchEntity).
 *   - SDK v3 clients built with no endpoint honour AWS_ENDPOINT_URL from process.env.
 *   - Inspector2: ListFindings, BatchGetAccountStatus, Enable/Disable, filters, members, delegated
 *     admin, organization configuration and tags exist. ListFindings IGNORES filterCriteria and
 *     never pages: it answers from a queue seeded with seedInspectorFindings() (first call with
 *     a given request takes the next queued page and keeps answering it; an empty queue answers
 *     no findings). ListCoverage and ListCoverageStatistics are NOT implemented (HTTP 404 HTML).
 *
 * Every request moto serves is recorded (moto's own recorder, MOTO_ENABLE_RECORDING) so tests can
 * prove that calls reached moto: see requests().
 *
 * Inside jest the global `process` is a copy whose "exit" listeners never fire, so the exit-time
 * cleanup registers on the real process (as in providerHost.ts).
 */
import * as childProcess from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { EC2Client, DescribeImagesCommand, DescribeInstancesCommand, RunInstancesCommand, CreateVpcCommand, CreateSubnetCommand, CreateSecurityGroupCommand } from "@aws-sdk/client-ec2";
import { IAMClient, CreateRoleCommand, CreateInstanceProfileCommand, AddRoleToInstanceProfileCommand, CreatePolicyCommand } from "@aws-sdk/client-iam";
import { killGroup, onRealExit, watchChild } from "./processes";

/** The project's virtual environment's bin directory (test/setup/provision.sh creates it). */
export const VENV_BIN = path.resolve(__dirname, "..", "..", ".venv", "bin");

/** What to do when a provisioned tool is missing. */
export const PROVISION_HINT =
    "run `npm test` (it provisions moto, the AWS CLI, cloud-init's schema, shellcheck, cryptsetup, QEMU and the Pulumi CLI first) " +
    "or `bash test/setup/provision.sh`";

function venvTool(name: string, what: string): string {
    const file = path.join(VENV_BIN, name);
    if (!fs.existsSync(file)) {
        throw new Error(`${what} (${file}) is not provisioned: ${PROVISION_HINT}.`);
    }
    return file;
}

/** .venv/bin/moto_server; throws, saying how to provision it, when it is not there. */
export function motoServerPath(): string {
    return venvTool("moto_server", "moto's server");
}

/** .venv/bin/aws, the AWS CLI pinned in test/setup/requirements.txt; throws when it is not there. */
export function awsCliPath(): string {
    return venvTool("aws", "the AWS CLI");
}

/** A PATH with .venv/bin first, for processes that run `aws` by name; throws when the AWS CLI is not there. */
export function pathWithVenv(pathValue: string | undefined = process.env.PATH): string {
    awsCliPath();
    return [VENV_BIN, ...(pathValue ?? "").split(path.delimiter).filter((p) => p !== "")].join(path.delimiter);
}

/** moto's default account (any non-numeric access key id maps to it). */
export const MOTO_ACCOUNT_ID = "123456789012";
export const MOTO_REGION = "eu-west-1";
const ACCESS_KEY_ID = "testing";
const SECRET_ACCESS_KEY = "testing";

export interface Moto {
    /** http://127.0.0.1:<port> (no trailing slash). */
    readonly endpoint: string;
    readonly port: number;
    /**
     * AWS_ENDPOINT_URL, AWS_REGION/AWS_DEFAULT_REGION=eu-west-1, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
     * (test values), AWS_EC2_METADATA_DISABLED=true. Never AWS_PROFILE: remove AWS_PROFILE and
     * AWS_SESSION_TOKEN from an environment you merge this into (see clientEnv()).
     */
    readonly env: Readonly<Record<string, string>>;
    /** POST /moto-api/reset (all services' state) and forgets the recorded requests. */
    reset(): Promise<void>;
    /** Kills moto's process group and waits for it to exit. Idempotent. */
    stop(): Promise<void>;
    /** Every AWS request moto served since start/reset (not /moto-api/ calls), oldest first. */
    requests(): Promise<MotoRequest[]>;
    /** What moto printed so far (stdout and stderr, the last 64 KiB). */
    output(): string;
    /** The moto_server process id (also its process group id). */
    readonly pid: number;
}

export interface MotoRequest {
    readonly method: string;
    /** Path and query, e.g. "/findings/list" or "/?Action=DescribeInstances…" for query APIs sent as GET. */
    readonly path: string;
    /** Header names as moto recorded them (Werkzeug capitalisation, e.g. "Authorization", "X-Amz-Target"). */
    readonly headers: Readonly<Record<string, string>>;
    readonly body: string;
    /** The service from the SigV4 credential scope, e.g. "inspector2", "ec2", "iam", "sts". */
    readonly service?: string;
    /** The access key id the request was signed with. */
    readonly accessKeyId?: string;
    /** The Query-protocol Action (EC2, IAM, STS) from body or URL, when there is one. */
    readonly action?: string;
}

export interface StartMotoOptions {
    /** How long moto may take to answer its first request. @default 30000 */
    readonly readyTimeoutMs?: number;
    /** Extra environment for moto_server itself. */
    readonly env?: Readonly<Record<string, string>>;
}

const OUTPUT_LIMIT = 64 * 1024;
const PORT_ATTEMPTS = 5;

function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.unref();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const address = server.address();
            const port = typeof address === "object" && address !== null ? address.port : 0;
            server.close(() => (port > 0 ? resolve(port) : reject(new Error("moto: could not read a free port"))));
        });
    });
}

class PortInUse extends Error {}

/** Starts moto_server on a free 127.0.0.1 port; retries with another port when the one picked was taken meanwhile. */
export async function startMoto(options: StartMotoOptions = {}): Promise<Moto> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
        try {
            return await startOnce(await freePort(), options);
        } catch (error) {
            if (!(error instanceof PortInUse)) {
                throw error;
            }
            lastError = error;
        }
    }
    throw new Error(`moto: no free port after ${PORT_ATTEMPTS} attempts: ${(lastError as Error).message}`);
}

async function startOnce(port: number, options: StartMotoOptions): Promise<Moto> {
    const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
    const endpoint = `http://127.0.0.1:${port}`;
    const motoServer = motoServerPath();
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-moto-"));
    const recording = path.join(workDir, "recording.jsonl");
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) {
        if (v !== undefined && !k.startsWith("AWS_")) env[k] = v;
    }
    Object.assign(env, {
        PYTHONUNBUFFERED: "1",
        MOTO_ENABLE_RECORDING: "True",
        MOTO_RECORDER_FILEPATH: recording,
        ...options.env,
    });

    const child = childProcess.spawn(motoServer, ["-H", "127.0.0.1", "-p", String(port)], {
        cwd: workDir,
        env,
        detached: true, // its own process group, so stop() reaches anything it spawned
        stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const append = (chunk: string): void => {
        output += chunk;
        if (output.length > OUTPUT_LIMIT * 2) output = output.slice(-OUTPUT_LIMIT);
    };
    child.stdout.setEncoding("utf8").on("data", append);
    child.stderr.setEncoding("utf8").on("data", append);
    const tail = (): string => (output.length > OUTPUT_LIMIT ? output.slice(-OUTPUT_LIMIT) : output).trim() || "(no output)";

    const { exited, exitInfo, spawnError } = watchChild(child);
    const pid = child.pid;
    const cleanupDir = (): void => fs.rmSync(workDir, { recursive: true, force: true });
    if (pid === undefined) {
        const error = await spawnError;
        cleanupDir();
        throw new Error(`moto: could not start ${motoServer}: ${error.message}`);
    }
    const unregister = onRealExit(() => killGroup(pid, "SIGKILL"));
    // A forgotten stop() must not keep jest alive; the exit listener still cleans up.
    child.unref();
    (child.stdout as { unref?: () => void }).unref?.();
    (child.stderr as { unref?: () => void }).unref?.();

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
        stopping ??= (async () => {
            if (exitInfo() === undefined) {
                killGroup(pid, "SIGTERM");
                const timer = setTimeout(() => killGroup(pid, "SIGKILL"), 3000);
                await exited;
                clearTimeout(timer);
            }
            // Anything left in the group (nothing, normally).
            killGroup(pid, "SIGKILL");
            unregister();
            cleanupDir();
        })();
        return stopping;
    };

    // Ready when moto answers over HTTP; fail early when it exits (EADDRINUSE → another port).
    const started = Date.now();
    for (;;) {
        if (exitInfo() !== undefined) {
            await stop();
            const text = tail();
            if (/address already in use|errno 98/i.test(text)) {
                throw new PortInUse(`port ${port} was taken`);
            }
            throw new Error(`moto: moto_server exited before answering (${exitInfo()}).\n--- moto output ---\n${text}`);
        }
        try {
            const response = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(2000) });
            await response.arrayBuffer();
            if (response.ok) break;
        } catch {
            // Not listening yet.
        }
        if (Date.now() - started > readyTimeoutMs) {
            await stop();
            throw new Error(`moto: moto_server did not answer on ${endpoint} within ${readyTimeoutMs} ms.\n--- moto output ---\n${tail()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const post = async (pathname: string, body?: unknown): Promise<void> => {
        const response = await fetch(endpoint + pathname, {
            method: "POST",
            headers: body === undefined ? {} : { "Content-Type": "application/json" },
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await response.text();
        if (!response.ok) {
            throw new Error(`moto: POST ${pathname} answered HTTP ${response.status}: ${text.slice(0, 300)}`);
        }
    };

    return {
        endpoint,
        port,
        pid,
        env: {
            AWS_ENDPOINT_URL: endpoint,
            AWS_REGION: MOTO_REGION,
            AWS_DEFAULT_REGION: MOTO_REGION,
            AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
            AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
            AWS_EC2_METADATA_DISABLED: "true",
        },
        reset: async () => {
            await post("/moto-api/reset");
            await post("/moto-api/recorder/reset-recording");
        },
        stop,
        output: tail,
        requests: async () => parseRecording(fs.existsSync(recording) ? fs.readFileSync(recording, "utf8") : ""),
    };
}

/**
 * The complete JSON objects in moto's recording, in file order. moto's recorder writes each entry
 * and then its newline as two writes from concurrent request threads, so another entry can land
 * between them: one line may hold several whole objects ("{…}{…}"). Each entry reaches the file in
 * one write, so objects are never torn; a fragment still being written at the very end (a request
 * in flight) is left for the next read.
 */
export function recordedObjects(text: string): unknown[] {
    const out: unknown[] = [];
    let depth = 0;
    let inString = false;
    let escaped = false;
    let start = -1;
    for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (inString) {
            if (escaped) escaped = false;
            else if (c === "\\") escaped = true;
            else if (c === '"') inString = false;
            continue;
        }
        if (c === '"') {
            if (depth === 0) throw new Error(`moto recording: a string outside any entry at offset ${i}`);
            inString = true;
        } else if (c === "{") {
            if (depth === 0) start = i;
            depth++;
        } else if (c === "}") {
            if (depth === 0) throw new Error(`moto recording: an unmatched "}" at offset ${i}`);
            depth--;
            if (depth === 0) out.push(JSON.parse(text.slice(start, i + 1)));
        } else if (depth === 0 && !/\s/.test(c ?? "")) {
            throw new Error(`moto recording: ${JSON.stringify(c)} between entries at offset ${i}`);
        }
    }
    return out;
}

function parseRecording(text: string): MotoRequest[] {
    const out: MotoRequest[] = [];
    for (const recorded of recordedObjects(text)) {
        const entry = recorded as { method: string; url: string; headers: Record<string, string>; body?: string | null; body_encoded?: boolean };
        const url = new URL(entry.url);
        if (url.pathname.startsWith("/moto-api/")) continue;
        const body = entry.body == null ? "" : entry.body_encoded ? Buffer.from(entry.body, "base64").toString("utf8") : entry.body;
        const headers = entry.headers ?? {};
        const auth = Object.entries(headers).find(([k]) => k.toLowerCase() === "authorization")?.[1] ?? "";
        const scope = /Credential=([^/,\s]+)\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(auth);
        const action = url.searchParams.get("Action") ?? new URLSearchParams(body).get("Action") ?? undefined;
        out.push({
            method: entry.method,
            path: url.pathname + url.search,
            headers,
            body,
            service: scope?.[2],
            accessKeyId: scope?.[1],
            action: action ?? undefined,
        });
    }
    return out;
}

/** process.env with moto's environment merged in and any profile or session token taken out. */
export function clientEnv(moto: Moto, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...base };
    for (const key of Object.keys(env)) {
        if (key.startsWith("AWS_")) delete env[key];
    }
    return { ...env, ...moto.env };
}

/** Configuration for SDK v3 clients that talk to moto (tests use it to set up and read back state). */
export function awsClientConfig(moto: Moto): {
    region: string;
    endpoint: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
    maxAttempts: number;
} {
    return {
        region: MOTO_REGION,
        endpoint: moto.endpoint,
        credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
        maxAttempts: 1,
    };
}

/**
 * Queues ListFindings answers in moto's inspector2 backend (POST /moto-api/static/inspector2/findings-results).
 * Each element of `pages` is the `findings` list of one answer. moto hands the next queued page to the
 * first ListFindings call with a request it has not seen, and repeats it for the same request.
 */
export async function seedInspectorFindings(
    moto: Moto,
    pages: readonly (readonly Record<string, unknown>[])[],
    where: { accountId?: string; region?: string } = {},
): Promise<void> {
    const response = await fetch(`${moto.endpoint}/moto-api/static/inspector2/findings-results`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ results: pages, account_id: where.accountId ?? MOTO_ACCOUNT_ID, region: where.region ?? MOTO_REGION }),
    });
    const text = await response.text();
    if (!response.ok) {
        throw new Error(`moto: seeding inspector2 findings answered HTTP ${response.status}: ${text.slice(0, 300)}`);
    }
}

/**
 * A customer-managed policy, returning its ARN: moto does not load AWS-managed policies by default,
 * so tests of the application's managed policies use one of these.
 */
export async function seedManagedPolicy(moto: Moto, name = "app-read-queue"): Promise<string> {
    const iam = new IAMClient(awsClientConfig(moto));
    try {
        const out = await iam.send(
            new CreatePolicyCommand({
                PolicyName: name,
                PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "sqs:ReceiveMessage", Resource: "*" }] }),
            }),
        );
        return must(out.Policy?.Arn, "CreatePolicy Arn");
    } finally {
        iam.destroy();
    }
}

export interface SeedOptions {
    /** Distinguishes several seeded instances in one moto. @default "airlock" */
    readonly name?: string;
    readonly cidr?: string;
    readonly instanceType?: string;
    /** Tags for the instance (Name is added). */
    readonly tags?: Readonly<Record<string, string>>;
}

export interface SeededInstance {
    readonly accountId: string;
    readonly region: string;
    readonly vpcId: string;
    readonly subnetId: string;
    readonly remediationSecurityGroupId: string;
    readonly productionSecurityGroupId: string;
    readonly roleName: string;
    readonly roleArn: string;
    readonly instanceProfileName: string;
    readonly instanceProfileArn: string;
    readonly imageId: string;
    readonly instanceId: string;
    readonly instanceArn: string;
    readonly privateIp: string;
    /** The instance's launch time as moto reports it. */
    readonly launchTime: Date;
}

/**
 * Creates, through the real SDK against moto, what the airlock works on: a VPC and subnet, a
 * remediation and a production security group, an IAM role under /airlock/ with an instance
 * profile, and a running instance in the remediation group with that profile.
 */
export async function seedAirlockInstance(moto: Moto, options: SeedOptions = {}): Promise<SeededInstance> {
    const name = options.name ?? "airlock";
    const config = awsClientConfig(moto);
    const ec2 = new EC2Client(config);
    const iam = new IAMClient(config);
    try {
        const cidr = options.cidr ?? "10.42.0.0/16";
        const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: cidr }));
        const vpcId = must(vpc.Vpc?.VpcId, "CreateVpc VpcId");
        const subnetCidr = cidr.replace(/\.0\.0\/16$/, ".1.0/24");
        const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: subnetCidr }));
        const subnetId = must(subnet.Subnet?.SubnetId, "CreateSubnet SubnetId");
        const remediation = await ec2.send(
            new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: `${name}-remediation`, Description: "airlock remediation (scanner only)" }),
        );
        const production = await ec2.send(
            new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: `${name}-production`, Description: "airlock production" }),
        );
        const remediationSecurityGroupId = must(remediation.GroupId, "CreateSecurityGroup GroupId");
        const productionSecurityGroupId = must(production.GroupId, "CreateSecurityGroup GroupId");

        const roleName = `${name}-instance`;
        const role = await iam.send(
            new CreateRoleCommand({
                RoleName: roleName,
                Path: "/airlock/",
                AssumeRolePolicyDocument: JSON.stringify({
                    Version: "2012-10-17",
                    Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
                }),
            }),
        );
        const roleArn = must(role.Role?.Arn, "CreateRole Arn");
        const instanceProfileName = `${name}-instance`;
        const profile = await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: instanceProfileName, Path: "/airlock/" }));
        const instanceProfileArn = must(profile.InstanceProfile?.Arn, "CreateInstanceProfile Arn");
        await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: instanceProfileName, RoleName: roleName }));

        const images = await ec2.send(new DescribeImagesCommand({ Owners: ["amazon"] }));
        const imageId = images.Images?.find((image) => image.ImageId)?.ImageId ?? "ami-12c6146b";
        const tags = { Name: `${name}-instance`, ...options.tags };
        const run = await ec2.send(
            new RunInstancesCommand({
                ImageId: imageId,
                InstanceType: (options.instanceType ?? "t3.micro") as never,
                MinCount: 1,
                MaxCount: 1,
                SubnetId: subnetId,
                SecurityGroupIds: [remediationSecurityGroupId],
                IamInstanceProfile: { Arn: instanceProfileArn },
                TagSpecifications: [{ ResourceType: "instance", Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
            }),
        );
        const instanceId = must(run.Instances?.[0]?.InstanceId, "RunInstances InstanceId");
        const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
        const instance = described.Reservations?.[0]?.Instances?.[0];
        if (instance?.State?.Name !== "running") {
            throw new Error(`moto: seeded instance ${instanceId} is ${instance?.State?.Name ?? "missing"}, not running`);
        }
        return {
            accountId: MOTO_ACCOUNT_ID,
            region: MOTO_REGION,
            vpcId,
            subnetId,
            remediationSecurityGroupId,
            productionSecurityGroupId,
            roleName,
            roleArn,
            instanceProfileName,
            instanceProfileArn,
            imageId,
            instanceId,
            instanceArn: `arn:aws:ec2:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:instance/${instanceId}`,
            privateIp: must(instance.PrivateIpAddress, "DescribeInstances PrivateIpAddress"),
            launchTime: instance.LaunchTime ?? new Date(),
        };
    } finally {
        ec2.destroy();
        iam.destroy();
    }
}

function must<T>(value: T | undefined | null, what: string): T {
    if (value === undefined || value === null) {
        throw new Error(`moto: no ${what} in the answer`);
    }
    return value;
}

/** Any SDK v3 client: what `inMotoAccount` needs of it. */
interface WithMiddleware {
    readonly middlewareStack: { add(middleware: (next: (args: { request: unknown }) => Promise<unknown>) => (args: { request: unknown }) => Promise<unknown>, options: { step: "build"; name: string }): void };
}

/**
 * The client talks to moto as another account: moto takes the account from the `x-moto-account-id`
 * header (STS and IAM then act inside it). `accountId` undefined leaves the client as it is.
 */
export function inMotoAccount<C>(client: C, accountId: string | undefined): C {
    if (accountId !== undefined) {
        (client as unknown as WithMiddleware).middlewareStack.add(
            (next) => async (args) => {
                (args.request as { headers: Record<string, string> }).headers["x-moto-account-id"] = accountId;
                return next(args);
            },
            { step: "build", name: "motoAccount" },
        );
    }
    return client;
}
