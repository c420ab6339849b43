import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { checkCidr } from "../config/cidr";
import { rulePeers, ruleSlug } from "../config/ruleNaming";
import { NetworkRule } from "../config/schema";

export type { RulePeer } from "../config/ruleNaming";
export { rulePeers, ruleSlug } from "../config/ruleNaming";
import { MANAGED_TAG } from "../policies/keyNaming";
import { baselineParameterName, serializeBaseline } from "../functions/securityGroupBaseline";

export interface SecurityZonesArgs {
    /** VPC that holds both groups. */
    readonly vpcId: pulumi.Input<string>;
    /**
     * CIDRs the vulnerability scanner connects from. The remediation group admits these, on every
     * port, and nothing else.
     * @default [] (no CIDR source)
     */
    readonly scannerSourceCidrs?: readonly string[];
    /**
     * Security group of the scanner, admitted by the remediation group like `scannerSourceCidrs`.
     * @default undefined (no group source)
     */
    readonly scannerSecurityGroupId?: pulumi.Input<string>;
    /**
     * Egress of the remediation group: only what package updates and AWS endpoints need.
     * @default [] (nothing: a quarantined instance reaches no one). The stack config defaults to TCP 443.
     */
    readonly remediationEgress?: readonly NetworkRule[];
    /**
     * Ingress of the production group, exactly as declared.
     * @default [] (no ingress)
     */
    readonly productionIngress?: readonly NetworkRule[];
    /**
     * Egress of the production group.
     * @default [] (no egress)
     */
    readonly productionEgress?: readonly NetworkRule[];
    /** Tags for every resource. @default {} */
    readonly tags?: Readonly<Record<string, string>>;
}

function awsProtocol(rule: NetworkRule): string {
    return rule.protocol === "all" ? "-1" : rule.protocol;
}

/** One AWS rule resource's arguments, with the slug that names it. */
interface DeclaredRule {
    readonly slug: string;
    readonly description: string;
    readonly ipProtocol: string;
    readonly fromPort?: number;
    readonly toPort?: number;
    readonly cidrIpv4?: string;
    readonly cidrIpv6?: string;
    readonly referencedSecurityGroupId?: pulumi.Input<string>;
    readonly prefixListId?: string;
}

/** The scanner's security group, admitted on every port (its resource keeps its historical name). */
function scannerGroupRule(securityGroupId: pulumi.Input<string>): DeclaredRule {
    return { slug: "scanner-sg", description: "Vulnerability scanner security group", ipProtocol: "-1", referencedSecurityGroupId: securityGroupId };
}

/** Named rule arguments, one per peer, named by content (reordering rules in config must not replace them). */
function ruleArgs(rules: readonly NetworkRule[]): DeclaredRule[] {
    return rules.flatMap((rule) =>
        rulePeers(rule).map((peer) => ({
            slug: ruleSlug(rule, peer),
            description: rule.description,
            ipProtocol: awsProtocol(rule),
            // AWS wants no ports for "-1"; for ICMP, -1/-1 means every type and code.
            fromPort: rule.protocol === "all" ? undefined : rule.fromPort,
            toPort: rule.protocol === "all" ? undefined : rule.toPort,
            ...peer,
        })),
    );
}

/**
 * The two security groups of the airlock for one VPC.
 *  - remediation (quarantine): admits only the scanner; egress only as declared for updates.
 *  - production: admits exactly the declared ingress rules.
 * Rules are separate `aws.vpc.SecurityGroup{Ingress,Egress}Rule` resources (one per peer) so that each
 * has its own id and description, and the groups carry no inline rules to fight over.
 */
export class SecurityZones extends pulumi.ComponentResource {
    declare public readonly remediationSecurityGroupId: pulumi.Output<string>;
    declare public readonly productionSecurityGroupId: pulumi.Output<string>;

    constructor(name: string, args: SecurityZonesArgs, opts: pulumi.ComponentResourceOptions = {}) {
        const scannerSourceCidrs = args.scannerSourceCidrs ?? [];
        for (const [i, cidr] of scannerSourceCidrs.entries()) {
            const check = checkCidr(cidr);
            if (!check.ok) {
                throw new Error(`SecurityZones ${name}: \`scannerSourceCidrs[${i}]\` ${JSON.stringify(cidr)}: ${check.problem}.`);
            }
        }
        const scannerRule: NetworkRule = {
            description: "Vulnerability scanner",
            protocol: "all",
            fromPort: -1,
            toPort: -1,
            cidrs: scannerSourceCidrs.filter((c) => !c.includes(":")),
            ipv6Cidrs: scannerSourceCidrs.filter((c) => c.includes(":")),
        };
        const remediationRules = {
            ingress: [...ruleArgs([scannerRule]), ...(args.scannerSecurityGroupId === undefined ? [] : [scannerGroupRule(args.scannerSecurityGroupId)])],
            egress: ruleArgs(args.remediationEgress ?? []),
        };
        const productionRules = { ingress: ruleArgs(args.productionIngress ?? []), egress: ruleArgs(args.productionEgress ?? []) };
        // Refused before anything is registered: a component that fails half-way leaves work behind.
        for (const [prefix, rules] of [
            [`${name}-remediation-in`, remediationRules.ingress],
            [`${name}-remediation-out`, remediationRules.egress],
            [`${name}-production-in`, productionRules.ingress],
            [`${name}-production-out`, productionRules.egress],
        ] as const) {
            const seen = new Set<string>();
            for (const { slug } of rules) {
                const ruleName = `${prefix}-${slug}`;
                if (seen.has(ruleName)) {
                    throw new Error(`SecurityZones: the rule ${ruleName} is declared twice. Remove the duplicate.`);
                }
                seen.add(ruleName);
            }
        }
        super("airlock:network:SecurityZones", name, {}, opts);

        const tags = { ...args.tags, [MANAGED_TAG]: "true" };
        const child = { parent: this };

        const remediation = new aws.ec2.SecurityGroup(
            `${name}-remediation`,
            {
                vpcId: args.vpcId,
                description: "Airlock remediation (quarantine): scanner ingress only, update egress only",
                revokeRulesOnDelete: true,
                tags: { ...tags, Name: `${name}-remediation`, "airlock:zone": "remediation" },
            },
            child,
        );
        const production = new aws.ec2.SecurityGroup(
            `${name}-production`,
            {
                vpcId: args.vpcId,
                description: "Airlock production: declared ingress only",
                revokeRulesOnDelete: true,
                tags: { ...tags, Name: `${name}-production`, "airlock:zone": "production" },
            },
            child,
        );

        // Each group's baseline (what this stack declares) is published first, where the guardrails'
        // healer reads it, and the rules are added after it: the healer never sees a declared rule
        // that is not yet in the baseline, and revokes any rule that is not.
        const remediationBaseline = this.publishBaseline(`${name}-remediation`, remediation.id, remediationRules, tags);
        const productionBaseline = this.publishBaseline(`${name}-production`, production.id, productionRules, tags);
        this.declareRules(`${name}-remediation-in`, "ingress", remediation.id, remediationRules.ingress, tags, remediationBaseline);
        this.declareRules(`${name}-remediation-out`, "egress", remediation.id, remediationRules.egress, tags, remediationBaseline);
        this.declareRules(`${name}-production-in`, "ingress", production.id, productionRules.ingress, tags, productionBaseline);
        this.declareRules(`${name}-production-out`, "egress", production.id, productionRules.egress, tags, productionBaseline);

        this.remediationSecurityGroupId = remediation.id;
        this.productionSecurityGroupId = production.id;
        this.registerOutputs({
            remediationSecurityGroupId: this.remediationSecurityGroupId,
            productionSecurityGroupId: this.productionSecurityGroupId,
        });
    }

    private publishBaseline(
        name: string,
        groupId: pulumi.Output<string>,
        rules: { readonly ingress: readonly DeclaredRule[]; readonly egress: readonly DeclaredRule[] },
        tags: Record<string, string>,
    ): aws.ssm.Parameter {
        const strip = (list: readonly DeclaredRule[]) => list.map(({ slug: _slug, description: _description, ...rule }) => rule);
        return new aws.ssm.Parameter(
            `${name}-baseline`,
            {
                name: groupId.apply(baselineParameterName),
                type: "String",
                // Above 4 KB (about 50 rules) the parameter needs the advanced tier; SSM picks it.
                tier: "Intelligent-Tiering",
                // Not a secret: insecureValue keeps it readable in previews, diffs and state.
                insecureValue: pulumi
                    .all([groupId, pulumi.output(strip(rules.ingress)), pulumi.output(strip(rules.egress))])
                    .apply(([id, ingress, egress]) => serializeBaseline(id, ingress, egress)),
                description: "Airlock: the security group's declared rules; the guardrails' healer revokes any other",
                tags,
            },
            { parent: this },
        );
    }

    private declareRules(
        prefix: string,
        direction: "ingress" | "egress",
        securityGroupId: pulumi.Output<string>,
        rules: readonly DeclaredRule[],
        tags: Record<string, string>,
        baseline: aws.ssm.Parameter,
    ): void {
        for (const { slug, ...rule } of rules) {
            const ruleName = `${prefix}-${slug}`;
            const ruleArgs = { securityGroupId, ...rule, tags };
            const options = { parent: this, dependsOn: [baseline] };
            if (direction === "ingress") {
                new aws.vpc.SecurityGroupIngressRule(ruleName, ruleArgs, options);
            } else {
                new aws.vpc.SecurityGroupEgressRule(ruleName, ruleArgs, options);
            }
        }
    }
}
