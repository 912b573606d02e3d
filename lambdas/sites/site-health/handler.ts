import { z } from 'zod';
import type { Deps } from '#core/deps.ts';
import { checkSiteHealth, type HealthDefaults } from '#core/sites/site-health.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';
import { count, logger } from '../../runtime/powertools.ts';

/**
 * Scheduled every minute: site health over every site (core/sites/site-health.ts). A site whose
 * check failed is logged and checked again at the next run; the others are not held up.
 */
export function createHandler(
  deps: Pick<Deps, 'sites' | 'tasks' | 'workflow' | 'clock' | 'ids' | 'policies'>,
  defaults?: HealthDefaults,
) {
  return workflowHandler('site-health', z.unknown(), async () => {
    const report = await checkSiteHealth(deps, defaults);
    for (const { siteId, error } of report.errors)
      logger.error('site health check failed', { siteId, error });
    // Nothing is written when nothing happened: a quiet minute costs no log bytes.
    if (report.sitesExcluded + report.sitesRestored + report.testsSent + report.testsFailed > 0) {
      logger.info('site health', { ...report, errors: report.errors.length });
      count('SitesExcluded', report.sitesExcluded);
      count('SitesRestored', report.sitesRestored);
      count('SiteTestsSent', report.testsSent);
      count('SiteTestsFailed', report.testsFailed);
    }
    return { ...report, errors: report.errors.length };
  });
}
