import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { checkCidr } from "../config/cidr";
import { rulePeers, ruleSlug } from "../config/ruleNaming";
import { NetworkRule } from "../config/schema";

export type { RulePeer } from "../config/ruleNaming";
export { rulePeers, ruleSlug } from "../config/ruleNaming";
import { MANAGED_TAG } from "../policies/keyNaming";

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
        super("airlock:network:SecurityZones", name, {}, opts);

        const scannerSourceCidrs = args.scannerSourceCidrs ?? [];
        for (const [i, cidr] of scannerSourceCidrs.entries()) {
            const check = checkCidr(cidr);
            if (!check.ok) {
                throw new Error(`SecurityZones ${name}: \`scannerSourceCidrs[${i}]\` ${JSON.stringify(cidr)}: ${check.problem}.`);
            }
        }
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

        const scannerRule: NetworkRule = {
            description: "Vulnerability scanner",
            protocol: "all",
            fromPort: -1,
            toPort: -1,
            cidrs: scannerSourceCidrs.filter((c) => !c.includes(":")),
            ipv6Cidrs: scannerSourceCidrs.filter((c) => c.includes(":")),
        };
        this.declareRules(`${name}-remediation-in`, "ingress", remediation.id, [scannerRule], tags);
        if (args.scannerSecurityGroupId !== undefined) {
            new aws.vpc.SecurityGroupIngressRule(
                `${name}-remediation-in-scanner-sg`,
                {
                    securityGroupId: remediation.id,
                    description: "Vulnerability scanner security group",
                    ipProtocol: "-1",
                    referencedSecurityGroupId: args.scannerSecurityGroupId,
                    tags,
                },
                child,
            );
        }
        this.declareRules(`${name}-remediation-out`, "egress", remediation.id, args.remediationEgress ?? [], tags);
        this.declareRules(`${name}-production-in`, "ingress", production.id, args.productionIngress ?? [], tags);
        this.declareRules(`${name}-production-out`, "egress", production.id, args.productionEgress ?? [], tags);

        this.remediationSecurityGroupId = remediation.id;
        this.productionSecurityGroupId = production.id;
        this.registerOutputs({
            remediationSecurityGroupId: this.remediationSecurityGroupId,
            productionSecurityGroupId: this.productionSecurityGroupId,
        });
    }

    private declareRules(
        prefix: string,
        direction: "ingress" | "egress",
        securityGroupId: pulumi.Output<string>,
        rules: readonly NetworkRule[],
        tags: Record<string, string>,
    ): void {
        const seen = new Set<string>();
        rules.forEach((rule) => {
            rulePeers(rule).forEach((peer) => {
                // Named by content, not position: reordering rules in config must not replace them.
                const ruleName = `${prefix}-${ruleSlug(rule, peer)}`;
                if (seen.has(ruleName)) {
                    throw new Error(`SecurityZones: the rule ${ruleName} is declared twice. Remove the duplicate.`);
                }
                seen.add(ruleName);
                const ruleArgs = {
                    securityGroupId,
                    description: rule.description,
                    ipProtocol: awsProtocol(rule),
                    // AWS wants no ports for "-1"; for ICMP, -1/-1 means every type and code.
                    fromPort: rule.protocol === "all" ? undefined : rule.fromPort,
                    toPort: rule.protocol === "all" ? undefined : rule.toPort,
                    ...peer,
                    tags,
                };
                if (direction === "ingress") {
                    new aws.vpc.SecurityGroupIngressRule(ruleName, ruleArgs, { parent: this });
                } else {
                    new aws.vpc.SecurityGroupEgressRule(ruleName, ruleArgs, { parent: this });
                }
            });
        });
    }
}
