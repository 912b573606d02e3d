/**
 * The API's access log: one JSON line per request, `sub` saying who called. The deployed stage
 * writes it (API Gateway fills the `$context` variables); the local API server writes the same
 * line for each request it serves, so the benchmark prices CloudWatch Logs from real lines.
 */
export const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  requestTime: '$context.requestTime',
  routeKey: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  authorizerError: '$context.authorizer.error',
  sub: '$context.authorizer.claims.sub',
} as const;

export type AccessLogValues = Record<keyof typeof ACCESS_LOG_FIELDS, string>;

/** The line API Gateway writes for one request (values as strings, `-` where a variable is empty). */
export function accessLogLine(values: Partial<AccessLogValues>): string {
  const line = Object.fromEntries(
    Object.keys(ACCESS_LOG_FIELDS).map((key) => [key, values[key as keyof AccessLogValues] ?? '-']),
  );
  return `${JSON.stringify(line)}\n`;
}
