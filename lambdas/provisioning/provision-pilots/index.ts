/**
 * PLACEHOLDER of the cdk part (branch i12-cdk) so that the function catalog, the CDK synth and the
 * local stack find the scheduled function `provision-pilots`. The provisioner part
 * (branch i12-provisioner) writes the real handler.ts and index.ts here: take theirs on merge.
 */
export const handler = async (): Promise<{ provisioned: false; reason: string }> => ({
  provisioned: false,
  reason: 'provision-pilots is not wired in this branch',
});
