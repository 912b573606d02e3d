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
} as const;
