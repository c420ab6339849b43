/**
 * An in-memory AwsPort for the promotion flow, with fault injection, that checks the airlock's
 * invariant after every mutation (promotionFlow.ts): an instance is never in a production group while
 * its role holds more than production rights, and the role never holds the application's managed
 * policies beside anything but the production phase policy (so a quarantined instance holds at most
 * launch rights, save for the attach-then-move step of a clean promotion).
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
    /** Managed policies the scanner needs in quarantine (component-owned): never application rights. @default none */
    readonly supportPolicies?: readonly string[];
}

export class FakeAws implements AwsPort {
    readonly instances = new Map<string, { groups: string[]; tags: Record<string, string>; state: string; privateIp: string }>();
    readonly policies = new Map<string, string>();
    /** Managed policies attached to the role, in attach order. */
    readonly attached: string[] = [];
    readonly calls: string[] = [];
    /** Fails the n-th call (0-based, counting every call) with the given fault. */
    failAt?: { index: number; fault: Fault };
    /** The process dies at the n-th call (0-based): it and every later call fail, nothing runs after it (no clean-up). */
    dieAt?: number;
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
        if (this.dieAt !== undefined && index >= this.dieAt) {
            throw new AwsFault("crash", call);
        }
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
        const application = this.applicationPolicies();
        if (application.length > 0 && this.policy() !== this.world.productionPolicy) {
            this.violations.push(`after ${after}: the role holds managed policies (${application.join(", ")}) beside other than production rights`);
        }
    }

    /** Attached managed policies that are application rights (not the scanner's own). */
    applicationPolicies(): string[] {
        return this.attached.filter((arn) => !(this.world.supportPolicies ?? []).includes(arn));
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

    async listAttachedRolePolicies(_roleName: string): Promise<string[]> {
        this.enter("listAttachedRolePolicies");
        return [...this.attached];
    }

    async attachRolePolicy(_roleName: string, policyArn: string): Promise<void> {
        this.enter("attachRolePolicy");
        if (!this.attached.includes(policyArn)) {
            this.attached.push(policyArn);
        }
        this.check(`attachRolePolicy(${policyArn})`);
    }

    async detachRolePolicy(_roleName: string, policyArn: string): Promise<void> {
        this.enter("detachRolePolicy");
        const at = this.attached.indexOf(policyArn);
        if (at >= 0) {
            this.attached.splice(at, 1);
        }
        this.check(`detachRolePolicy(${policyArn})`);
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
