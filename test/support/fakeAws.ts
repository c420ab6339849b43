/**
 * An in-memory AwsPort for the promotion flow, with fault injection, that checks the airlock's
 * invariant after every mutation: an instance is never in a production group while its role holds
 * more than production rights.
 */
import type { AwsPort, InstanceState } from "../../providers/promotionFlow";
import type { Clock } from "../../providers/polling";

export type Fault = "crash" | "throttling" | "5xx" | "access-denied";

export class AwsFault extends Error {
    constructor(
        public readonly fault: Fault,
        public readonly call: string,
    ) {
        super(
            fault === "throttling"
                ? `Rate exceeded (${call})`
                : fault === "5xx"
                  ? `We encountered an internal error. Please try again. (${call})`
                  : fault === "access-denied"
                    ? `User is not authorized to perform: ${call}`
                    : `process crashed before ${call}`,
        );
        this.name = fault === "throttling" ? "ThrottlingException" : fault === "5xx" ? "InternalError" : fault === "access-denied" ? "AccessDenied" : "Crash";
    }
}

export interface FakeWorld {
    readonly productionGroups: readonly string[];
    readonly productionPolicy: string;
    readonly roleName: string;
    readonly policyName: string;
}

export class FakeAws implements AwsPort {
    readonly instances = new Map<string, { groups: string[]; tags: Record<string, string>; state: string; privateIp: string }>();
    readonly policies = new Map<string, string>();
    readonly calls: string[] = [];
    /** Fails the n-th call (0-based, counting every call) with the given fault. */
    failAt?: { index: number; fault: Fault };
    /** Fails every call of this name. */
    failCall?: { call: keyof AwsPort; fault: Fault };
    /** Called on every poll of describeInstance: lets a test play the instance's boot. */
    onDescribe?: (instanceId: string, polls: number) => void;
    violations: string[] = [];
    private describes = 0;

    constructor(private readonly world: FakeWorld) {}

    addInstance(instanceId: string, groups: string[], tags: Record<string, string> = {}): void {
        this.instances.set(instanceId, { groups: [...groups], tags: { ...tags }, state: "running", privateIp: "10.0.1.23" });
    }

    policy(): string | undefined {
        return this.policies.get(`${this.world.roleName}/${this.world.policyName}`);
    }

    groupsOf(instanceId: string): string[] {
        return [...(this.instances.get(instanceId)?.groups ?? [])];
    }

    private enter(call: keyof AwsPort): void {
        const index = this.calls.length;
        this.calls.push(call);
        if (this.failAt !== undefined && this.failAt.index === index) {
            throw new AwsFault(this.failAt.fault, call);
        }
        if (this.failCall !== undefined && this.failCall.call === call) {
            throw new AwsFault(this.failCall.fault, call);
        }
    }

    /** The invariant, checked after every mutation. */
    private check(after: string): void {
        for (const [id, instance] of this.instances) {
            const inProduction = instance.groups.some((g) => this.world.productionGroups.includes(g));
            const policy = this.policy();
            if (inProduction && policy !== undefined && policy !== this.world.productionPolicy) {
                this.violations.push(`after ${after}: ${id} is in a production group while its role holds more than production rights`);
            }
        }
    }

    async describeInstance(instanceId: string): Promise<InstanceState | undefined> {
        this.enter("describeInstance");
        this.onDescribe?.(instanceId, this.describes++);
        const instance = this.instances.get(instanceId);
        if (instance === undefined) {
            return undefined;
        }
        return {
            instanceId,
            arn: `arn:aws:ec2:eu-west-1:111122223333:instance/${instanceId}`,
            accountId: "111122223333",
            privateIp: instance.privateIp,
            state: instance.state,
            securityGroupIds: [...instance.groups],
            tags: { ...instance.tags },
        };
    }

    async setSecurityGroups(instanceId: string, groupIds: readonly string[]): Promise<void> {
        this.enter("setSecurityGroups");
        const instance = this.instances.get(instanceId);
        if (instance === undefined) {
            throw new Error(`InvalidInstanceID.NotFound: ${instanceId}`);
        }
        instance.groups = [...groupIds];
        this.check(`setSecurityGroups(${groupIds.join(",")})`);
    }

    async getRolePolicy(roleName: string, policyName: string): Promise<string | undefined> {
        this.enter("getRolePolicy");
        return this.policies.get(`${roleName}/${policyName}`);
    }

    async putRolePolicy(roleName: string, policyName: string, document: string): Promise<void> {
        this.enter("putRolePolicy");
        this.policies.set(`${roleName}/${policyName}`, document);
        this.check(`putRolePolicy(${document === this.world.productionPolicy ? "production" : "other"})`);
    }

    async deleteRolePolicy(roleName: string, policyName: string): Promise<void> {
        this.enter("deleteRolePolicy");
        this.policies.delete(`${roleName}/${policyName}`);
        this.check("deleteRolePolicy");
    }
}

/** A clock whose sleeps advance virtual time at once: deadlines and backoff without waiting. */
export class VirtualClock implements Clock {
    private time = Date.UTC(2026, 10, 22, 12, 0, 0);
    readonly sleeps: number[] = [];

    now(): number {
        return this.time;
    }

    async sleep(ms: number): Promise<void> {
        this.sleeps.push(ms);
        this.time += ms;
    }

    random(): number {
        return 0.5;
    }
}
