/**
 * What the schema of a site cannot see alone: provisioning belongs to cloud sites, and each EC2
 * instance type must run the site's slots (its architecture, at least one slot of its cores,
 * memory and GPUs) with no more slots than fit (the weight). Issues name the field as the API's
 * 400 does (`provisioning.instanceTypes.0.type`).
 */
import type { FieldIssue } from '../errors.ts';
import type { Site } from '../sites/site.ts';
import { DEFAULT_ARCH } from '../sites/site-id.ts';
import { type InstanceTypeInfo, instanceTypeInfo, type SlotSize, slotsPerInstance } from './prices.ts';

export function cloudSiteIssues(site: Pick<Site, 'kind' | 'slot' | 'provisioning'>): FieldIssue[] {
  const provisioning = site.provisioning;
  if (provisioning === undefined) return [];
  if (site.kind !== 'cloud') {
    return [
      {
        field: 'provisioning',
        message: `only a site of kind cloud has provisioning (this one is ${site.kind}: set kind: cloud)`,
      },
    ];
  }
  if (provisioning.type !== 'ec2') return [];
  const arch = site.slot.arch ?? DEFAULT_ARCH;
  const seen = new Set<string>();
  return provisioning.instanceTypes.flatMap(({ type, weight }, i): FieldIssue[] => {
    const field = `provisioning.instanceTypes.${i}`;
    const info = instanceTypeInfo(type);
    // An unknown type is the schema's issue (it names the same field).
    if (info === undefined) return [];
    if (seen.has(type)) return [{ field: `${field}.type`, message: `${type} is listed twice` }];
    seen.add(type);
    if (info.arch !== arch) {
      return [
        {
          field: `${field}.type`,
          message: `${type} is ${info.arch}; the site's slots are ${arch} (slot.arch)`,
        },
      ];
    }
    const fits = slotsPerInstance(info, site.slot);
    if (fits === 0) return [{ field: `${field}.type`, message: `${type} ${shortOf(info, site.slot)}` }];
    if (weight !== undefined && weight > fits) {
      return [
        {
          field: `${field}.weight`,
          message: `at most ${fits}: ${fits} slot${fits === 1 ? '' : 's'} of ${slotText(site.slot)} fit on one ${type} (${sizeText(info)})`,
        },
      ];
    }
    return [];
  });
}

/** Why not one slot fits on an instance type: what it has less of than one slot needs. */
function shortOf(info: InstanceTypeInfo, slot: SlotSize): string {
  const short: string[] = [];
  if (info.vcpus < slot.cores) short.push(`${info.vcpus} vCPUs, a slot needs ${slot.cores} cores`);
  if (info.memoryMiB < slot.memoryMB)
    short.push(`${info.memoryMiB} MiB of memory, a slot needs ${slot.memoryMB} MB`);
  if ((info.gpus ?? 0) < (slot.gpus ?? 0)) short.push(`${info.gpus ?? 0} GPUs, a slot needs ${slot.gpus}`);
  return short.length === 0
    ? `fits no slot of ${slotText(slot)}`
    : `fits no slot: it has ${short.join('; ')} (slot)`;
}

function slotText(slot: SlotSize): string {
  return `${slot.cores} cores, ${slot.memoryMB} MB${slot.gpus ? `, ${slot.gpus} GPUs` : ''}`;
}

function sizeText(info: InstanceTypeInfo): string {
  return `${info.vcpus} vCPUs, ${info.memoryMiB} MiB${info.gpus ? `, ${info.gpus} GPUs` : ''}`;
}
