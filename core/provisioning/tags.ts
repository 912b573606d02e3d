/**
 * The tags the provisioner puts on what it starts. The stack's IAM allows CreateFleet, RunInstances
 * and CreateTags only with the stage tag; the instance reads the others from its metadata
 * (instance metadata tags are enabled in the launch template) to start its pilots.
 */
export const CLOUD_TAGS = {
  stage: 'gluon:stage',
  site: 'gluon:site',
  /** `slot` or `instance` (Ec2Provisioning.pilots). */
  pilots: 'gluon:pilots',
  slotCores: 'gluon:slot-cores',
  slotMemoryMB: 'gluon:slot-memory-mb',
  idleExitSec: 'gluon:idle-exit-sec',
  /**
   * The weights a site set itself (slots per instance below what fits), as `type=weight` pairs
   * separated by spaces (tag values allow no commas): the instance starts as many pilots as the
   * provisioner counted on.
   */
  weights: 'gluon:weights',
} as const;

/** The `gluon:weights` tag's value of a site's explicit weights (undefined when it set none). */
export function weightsTag(
  instanceTypes: ReadonlyArray<{ type: string; weight?: number | undefined }>,
): string | undefined {
  const pairs = instanceTypes.flatMap((t) => (t.weight === undefined ? [] : [`${t.type}=${t.weight}`]));
  return pairs.length === 0 ? undefined : pairs.join(' ');
}

/** The weight `gluon:weights` gives an instance type, if any. */
export function weightOf(tag: string | undefined, instanceType: string): number | undefined {
  for (const pair of (tag ?? '').split(/\s+/)) {
    const [type, weight] = pair.split('=');
    if (type === instanceType && weight !== undefined && /^[1-9][0-9]*$/.test(weight)) return Number(weight);
  }
  return undefined;
}
