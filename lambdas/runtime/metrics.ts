/**
 * CloudWatch metrics through the Embedded Metric Format: one JSON log line, no API call. Namespace
 * `Gluon`, no dimensions (ids go in log keys, never in metric dimensions). Names are PascalCase
 * noun + past participle (`JobsReaped`).
 */
import { writeRawLine } from '#platform/logger.ts';

export const METRIC_NAMESPACE = 'Gluon';

export function emitMetrics(
  metrics: Record<string, number>,
  write: (line: string) => void = (line) => writeRawLine(`${line}\n`),
): void {
  const names = Object.keys(metrics);
  if (names.length === 0) return;
  write(
    JSON.stringify({
      _aws: {
        Timestamp: Date.now(),
        CloudWatchMetrics: [
          {
            Namespace: METRIC_NAMESPACE,
            Dimensions: [[]],
            Metrics: names.map((Name) => ({ Name, Unit: 'Count' })),
          },
        ],
      },
      ...metrics,
    }),
  );
}
