/**
 * Powertools for AWS Lambda in every function: one Logger, one Metrics and one Tracer per process,
 * applied by the central wrappers (http-handler.ts, workflow-handler.ts, stream-handler.ts) as
 * middy middlewares, so handlers stay thin.
 *
 * Settings come from the environment, as Powertools reads it: POWERTOOLS_SERVICE_NAME, LOG_LEVEL,
 * POWERTOOLS_METRICS_NAMESPACE (Gluon), POWERTOOLS_TRACE_ENABLED (false in the local stack).
 *
 * Output: Powertools prints through a console of its own over stdout. Ours writes through
 * platform/logger.ts instead, so every byte is counted (the benchmark prices CloudWatch Logs from
 * loggedBytes()) and goes where that module's sink says; the metric lines (EMF) are also appended
 * to GLUON_METRICS_FILE when it is set (the local stack's metrics store, which `GET /metrics` reads).
 */

import { Console } from 'node:console';
import { appendFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type middy from '@middy/core';
import { instrumentAwsClients, onAwsThrottle } from '#adapters/aws-clients.ts';
import { METRIC_NAMESPACE, METRICS, type MetricName } from '#core/metrics/metric-names.ts';
import { type LogLevel, writeRawLine } from '#platform/logger.ts';

/** A console whose lines go through platform/logger.ts (counted), and optionally to a file too. */
function countingConsole(file?: string): Console {
  const stream = (level: LogLevel) =>
    new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        const line = chunk.toString();
        writeRawLine(line, level);
        // Appended synchronously: a line is a few hundred bytes, written once per invocation at most.
        if (file !== undefined) appendFileSync(file, line);
        done();
      },
    });
  return new Console({ stdout: stream('info'), stderr: stream('error') });
}

/** Powertools keeps its console private; replacing it is the one way to route its output. */
function printThrough<T>(utility: T, console: Console): T {
  (utility as unknown as { console: Console }).console = console;
  return utility;
}

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'gluon';

export const logger = printThrough(new Logger({ serviceName }), countingConsole());

/** Warnings of Metrics itself (never the metric lines), except that a quiet invocation had none. */
const metricsLog = {
  debug: () => {},
  info: (...args: unknown[]) => logger.info(String(args[0])),
  warn: (...args: unknown[]) => {
    if (!String(args[0]).startsWith('No application metrics to publish')) logger.warn(String(args[0]));
  },
  error: (...args: unknown[]) => logger.error(String(args[0])),
};

const metricsConsole = countingConsole(process.env.GLUON_METRICS_FILE);

/**
 * A Metrics instance printing through our console, without the `service` dimension Powertools
 * adds: every function shares the namespace, and ids go in log keys, never in dimensions
 * (STYLE.md). The few dimensions we use are named per metric (core/metrics/metric-names.ts).
 */
function gluonMetrics(singleMetric: boolean): Metrics {
  const created = printThrough(
    new Metrics({ namespace: METRIC_NAMESPACE, serviceName, logger: metricsLog, singleMetric }),
    metricsConsole,
  );
  created.clearDefaultDimensions();
  return created;
}

export const metrics = gluonMetrics(false);

export const tracer = new Tracer({ serviceName });

/** A count, added to this invocation's metric line. */
export function count(name: MetricName, value = 1): void {
  if (value > 0) metrics.addMetric(name, MetricUnit.Count, value);
}

/** One metric line per dimension value, since a line carries one set of dimensions. */
function emitBy(name: MetricName, dimension: string, values: Iterable<[string, number]>): void {
  for (const [value, n] of values) {
    // Not metrics.singleMetric(): it would print around our console and add `service` again.
    const single = gluonMetrics(true);
    single.addDimension(dimension, value);
    single.addMetric(
      name,
      METRICS[name].unit === 'Milliseconds' ? MetricUnit.Milliseconds : MetricUnit.Count,
      n,
    );
  }
}

/** Counts by a low-cardinality dimension (an outcome, a pilot error code); zero counts are left out. */
export function countBy(
  name: MetricName,
  dimension: string,
  values: Readonly<Record<string, number | undefined>>,
): void {
  emitBy(
    name,
    dimension,
    Object.entries(values).filter((entry): entry is [string, number] => (entry[1] ?? 0) > 0),
  );
}

/** A duration in milliseconds, added to this invocation's metric line. */
export function milliseconds(name: MetricName, value: number): void {
  metrics.addMetric(name, MetricUnit.Milliseconds, value);
}

/** A gauge per site (queue depth), zeros included: a `siteId` dimension, the one id we allow (sites are few). */
export function gaugeBySite(name: MetricName, values: Readonly<Record<string, number>>): void {
  emitBy(name, 'siteId', Object.entries(values));
}

// The SDK clients of this process: traced when tracing is on (Tracer returns them as they are
// otherwise), and a DynamoDB throttle counts in the invocation's metrics.
instrumentAwsClients((client) => tracer.captureAWSv3Client(client));
onAwsThrottle((service) => {
  if (service === 'DynamoDB') count('DynamoDbThrottles');
});

/**
 * The Powertools middlewares every function gets: the request id and Lambda context on every log
 * line (keys appended during an invocation are dropped at its end), the invocation's metrics
 * flushed as one EMF line, and the handler traced (not its answer: pages of jobs are large).
 * Register a wrapper's own onError after these: middy runs onError handlers last-registered
 * first, so its error line still carries the invocation's keys.
 */
export function powertools<E, R>(handler: middy.MiddyfiedHandler<E, R>): middy.MiddyfiedHandler<E, R> {
  return handler
    .use(captureLambdaHandler(tracer, { captureResponse: false }))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}
