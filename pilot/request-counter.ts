/**
 * Counts the AWS requests this pilot sends (each HTTP attempt once, retries included), keyed
 * `Service.Operation`. The pilot logs them when it exits, so the benchmark can print AWS requests
 * per job for pilots as well as for the functions.
 */
const counts = new Map<string, number>();

export function pilotAwsRequestCounts(): Record<string, number> {
  return Object.fromEntries([...counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

interface MiddlewareClient {
  middlewareStack: {
    add(
      middleware: (
        next: (args: unknown) => Promise<unknown>,
        context: { commandName?: string },
      ) => (args: unknown) => Promise<unknown>,
      options: { step: 'finalizeRequest'; priority: 'low'; name: string },
    ): void;
  };
}

export function countAwsRequests<C>(client: C, service: string): C {
  (client as MiddlewareClient).middlewareStack.add(
    (next, context) => async (args) => {
      const key = `${service}.${(context.commandName ?? 'Unknown').replace(/Command$/, '')}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'low', name: 'gluonPilotRequestCounter' },
  );
  return client;
}

const apiCounts = new Map<string, number>();

/** API calls of this pilot by route, e.g. `POST /pilots/{pilotId}/claim`. */
export function pilotApiRequestCounts(): Record<string, number> {
  return Object.fromEntries([...apiCounts.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

export function countApiRequest(method: string, path: string): void {
  const route = `${method} ${path.replace(/\/pilots\/[^/]+/, '/pilots/{pilotId}')}`;
  apiCounts.set(route, (apiCounts.get(route) ?? 0) + 1);
}
