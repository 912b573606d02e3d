import { z } from 'zod';
import {
  type ProvisionDeps,
  type ProvisionSettings,
  provisionPilots,
} from '#core/provisioning/provision-pilots.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';
import { logger } from '../../runtime/powertools.ts';

/**
 * Scheduled every minute: the cloud provisioner over every site with provisioning
 * (core/provisioning/provision-pilots.ts). Each site's decision is recorded on the site; a site
 * whose cloud refused is logged and tried again at the next run, the others are not held up.
 */
export function createHandler(deps: ProvisionDeps, settings: ProvisionSettings) {
  return workflowHandler('provision-pilots', z.unknown(), async () => {
    const report = await provisionPilots(deps, settings);
    for (const { siteId, errors } of report.errors) logger.warn('provisioning refused', { siteId, errors });
    // Nothing is written when nothing was started: a quiet minute costs no log bytes.
    if (report.started > 0) logger.info('provisioned', { ...report, errors: report.errors.length });
    return { ...report, errors: report.errors.length };
  });
}
