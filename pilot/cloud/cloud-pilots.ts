/**
 * How many pilots an EC2 instance runs, and what each offers: from the tags the provisioner put on
 * the instance (core/provisioning/tags.ts) and the instance's size. `slot` mode: one pilot per slot
 * that fits the instance's vCPUs and memory; `instance` mode: one pilot offering the whole instance,
 * which runs several jobs at once (--jobs-at-once defaults to its cores).
 */
import { slotsPerInstance } from '#core/provisioning/prices.ts';
import { CLOUD_TAGS, weightOf } from '#core/provisioning/tags.ts';

export { slotsPerInstance };

export interface InstanceSize {
  vcpus: number;
  memoryMiB: number;
}

export interface CloudPilotPlan {
  siteId: string;
  mode: 'slot' | 'instance';
  /** Pilots to start on the instance. */
  pilots: number;
  /** Cores and memory each pilot offers. */
  cores: number;
  memoryMB: number;
  /** Each pilot's --idle-exit-sec, when the tags give it. */
  idleExitSec?: number;
}

export class CloudPlanError extends Error {
  override readonly name = 'CloudPlanError';
}

function positiveInt(tags: ReadonlyMap<string, string>, key: string): number | undefined {
  const raw = tags.get(key);
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw.trim());
  if (!Number.isInteger(value) || value < 1) {
    throw new CloudPlanError(`instance tag ${key} must be a whole number of at least 1 (got '${raw}')`);
  }
  return value;
}

/** The pilots of an instance from its tags and size; throws CloudPlanError naming the tag at fault. */
export function planCloudPilots(
  tags: ReadonlyMap<string, string>,
  size: InstanceSize,
  instanceType?: string,
): CloudPilotPlan {
  const siteId = tags.get(CLOUD_TAGS.site)?.trim();
  if (siteId === undefined || siteId === '') {
    throw new CloudPlanError(
      `instance tag ${CLOUD_TAGS.site} is missing (are instance metadata tags enabled in the launch template?)`,
    );
  }
  const modeTag = tags.get(CLOUD_TAGS.pilots)?.trim() || 'slot';
  if (modeTag !== 'slot' && modeTag !== 'instance') {
    throw new CloudPlanError(`instance tag ${CLOUD_TAGS.pilots} must be slot or instance (got '${modeTag}')`);
  }
  const idleExitSec = positiveInt(tags, CLOUD_TAGS.idleExitSec);
  const vcpus = Math.max(1, Math.floor(size.vcpus));
  const memoryMiB = Math.max(1, Math.floor(size.memoryMiB));
  const base = { siteId, ...(idleExitSec === undefined ? {} : { idleExitSec }) };
  if (modeTag === 'instance') {
    return { ...base, mode: 'instance', pilots: 1, cores: vcpus, memoryMB: memoryMiB };
  }
  const cores = positiveInt(tags, CLOUD_TAGS.slotCores) ?? 1;
  const memoryMB = positiveInt(tags, CLOUD_TAGS.slotMemoryMB) ?? Math.floor(memoryMiB / vcpus);
  const fits = slotsPerInstance({ vcpus, memoryMiB }, { cores, memoryMB });
  // A weight the site set itself (below what fits): as many pilots as the provisioner counted on.
  const weight =
    instanceType === undefined ? undefined : weightOf(tags.get(CLOUD_TAGS.weights), instanceType);
  const pilots = weight === undefined ? fits : Math.min(weight, fits);
  if (pilots === 0) {
    throw new CloudPlanError(
      `a slot of ${cores} cores and ${memoryMB} MB (tags ${CLOUD_TAGS.slotCores}, ${CLOUD_TAGS.slotMemoryMB}) ` +
        `does not fit this instance (${vcpus} vCPUs, ${memoryMiB} MiB)`,
    );
  }
  return { ...base, mode: 'slot', pilots, cores, memoryMB };
}
