import { HEALTH_DEFAULTS } from '#core/sites/site-health.ts';
import { config } from '../../runtime/config.ts';
import { productionDeps } from '../../runtime/deps.ts';
import { createHandler } from './handler.ts';

const c = config();
export const handler = createHandler(productionDeps(), {
  ...HEALTH_DEFAULTS,
  maxInfraFailureFraction: c.GLUON_SITE_MAX_INFRA_FAILURE_FRACTION,
  minAttempts: c.GLUON_SITE_MIN_ATTEMPTS,
});
