import { METRIC_NAMESPACE } from '#core/metrics/metric-names.ts';

/**
 * The Powertools settings every function gets (CDK sets them on each function; the local stack on
 * its own process): one service name, the `Gluon` namespace, the log level.
 */
export function powertoolsEnvironment(logLevel: 'debug' | 'info' | 'warn' | 'error'): Record<string, string> {
  return {
    POWERTOOLS_SERVICE_NAME: 'gluon',
    POWERTOOLS_METRICS_NAMESPACE: METRIC_NAMESPACE,
    LOG_LEVEL: logLevel.toUpperCase(),
  };
}
