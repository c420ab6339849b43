import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { Partition } from "../policies/document";

/**
 * Which provider answers a look-up: an explicit `provider`, else the one `parent` carries for the
 * aws package, else the stack's default aws provider. The same rule Pulumi applies to an invoke.
 */
export interface LookupOptions {
    readonly parent?: pulumi.Resource;
    readonly provider?: pulumi.ProviderResource;
}

/**
 * The read-only AWS calls a stack makes while it is evaluated (at preview as at up): a subnet's
 * attributes, the latest public AMI of an OS for an architecture, the partition. Each distinct
 * question is asked once, however many instances ask it, so the calls follow distinct subnets and
 * OS/architecture pairs, not instances.
 *
 * Create one per program run and pass it to every component that looks things up (index.ts). It is
 * a plain object, not module state: two runs of the program in one process (tests) never share
 * answers.
 *
 * An invoke has no URN and leaves nothing in state; its `parent` only selects the provider. So the
 * memo resolves the provider first and keys on it: instances given their own aws provider (another
 * account or region) are answered by that provider, never from another provider's answer, and a
 * shared answer is not tied to whichever instance asked first.
 *
 * Only plain strings are memoised: a subnet id that is itself an Output is looked up for each caller.
 */
export class Lookups {
    private readonly subnets = new ProviderMemo<aws.ec2.GetSubnetResult>();
    private readonly amis = new ProviderMemo<string>();
    private readonly partitions = new ProviderMemo<Partition>();

    /** The subnet's attributes (its availability zone, for a volume beside the instance). */
    subnet(subnetId: pulumi.Input<string>, opts: LookupOptions = {}): pulumi.Output<aws.ec2.GetSubnetResult> {
        const provider = providerFor("aws:ec2/getSubnet:getSubnet", opts);
        const lookUp = () => aws.ec2.getSubnetOutput({ id: subnetId }, { provider });
        return typeof subnetId === "string" ? this.subnets.get(provider, subnetId, lookUp) : lookUp();
    }

    /**
     * The AMI id an SSM parameter holds: one of AWS's public "latest AMI" parameters, one per OS and
     * architecture (`amiParameterName` in secureInstance.ts).
     */
    amiFromParameter(parameterName: string, opts: LookupOptions = {}): pulumi.Output<string> {
        const provider = providerFor("aws:ssm/getParameter:getParameter", opts);
        return this.amis.get(provider, parameterName, () => aws.ssm.getParameterOutput({ name: parameterName }, { provider }).apply((p) => p.value));
    }

    /** The partition and its DNS suffix, for ARNs and service principals. */
    partition(opts: LookupOptions = {}): pulumi.Output<Partition> {
        const provider = providerFor("aws:index/getPartition:getPartition", opts);
        return this.partitions.get(provider, "", () => {
            const found = aws.getPartitionOutput({}, { provider });
            return pulumi.output({ partition: found.partition, dnsSuffix: found.dnsSuffix });
        });
    }
}

function providerFor(token: string, opts: LookupOptions): pulumi.ProviderResource | undefined {
    return opts.provider ?? opts.parent?.getProvider(token);
}

/** Answers keyed by provider (undefined: the default provider), then by question. */
class ProviderMemo<T> {
    private readonly byProvider = new Map<pulumi.ProviderResource | undefined, Map<string, pulumi.Output<T>>>();

    get(provider: pulumi.ProviderResource | undefined, key: string, lookUp: () => pulumi.Output<T>): pulumi.Output<T> {
        let answers = this.byProvider.get(provider);
        if (answers === undefined) {
            answers = new Map();
            this.byProvider.set(provider, answers);
        }
        let answer = answers.get(key);
        if (answer === undefined) {
            answer = lookUp();
            answers.set(key, answer);
        }
        return answer;
    }
}
