import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { type HandlerMap, invokeHandler } from './lambda-handler.ts';
import { LOOPBACK as HOST, listenOnLoopback } from './listen.ts';
import { consoleLog, type Log } from './log.ts';
import { readBody, sendError } from './sfn-endpoint.ts';

/**
 * The local stack's event bus: an EventBridge PutEvents endpoint on 127.0.0.1 (AWS JSON 1.1,
 * `X-Amz-Target: AWSEvents.PutEvents`), so the publishing function uses the real
 * `@aws-sdk/client-eventbridge` through `AWS_ENDPOINT_URL_EVENTBRIDGE`. Each event is matched
 * against the rules (lambdas/routes.ts EVENT_FUNCTIONS) and handed to the matching functions
 * in-process, asynchronously, as EventBridge invokes a Lambda target: a target that throws gets the
 * event again a few times, then it is logged and dropped (AWS: the rules' dead-letter queue).
 */
export interface LocalEventBusOptions {
  port: number;
  rules: ReadonlyArray<{ functionName: string; pattern: Readonly<Record<string, unknown>> }>;
  log?: Log;
  /** Tries of a target for one event (EventBridge: up to 185). */
  tries?: number;
  retryDelayMs?: number;
}

export interface LocalEventBus {
  readonly url: string;
  /** The functions, once loaded (events that come before are refused: the caller retries). */
  attach(handlers: HandlerMap): void;
  /** Resolves once every event handed over so far was taken by its targets. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

const TARGET = 'AWSEvents.PutEvents';
const CONTENT_TYPE = 'application/x-amz-json-1.1';

/** EventBridge pattern matching for what the rules use: arrays of exact values, nested objects. */
export function matchesPattern(
  pattern: Readonly<Record<string, unknown>>,
  event: Record<string, unknown>,
): boolean {
  return Object.entries(pattern).every(([field, wanted]) => {
    const value = event[field];
    if (Array.isArray(wanted)) return wanted.includes(value);
    if (typeof wanted === 'object' && wanted !== null) {
      return (
        typeof value === 'object' &&
        value !== null &&
        matchesPattern(wanted as Record<string, unknown>, value as Record<string, unknown>)
      );
    }
    return false;
  });
}

export async function startLocalEventBus(options: LocalEventBusOptions): Promise<LocalEventBus> {
  const log = options.log ?? consoleLog;
  const tries = options.tries ?? 5;
  const retryDelayMs = options.retryDelayMs ?? 1000;
  let handlers: HandlerMap | undefined;
  const inFlight = new Set<Promise<void>>();

  const deliver = async (functionName: string, event: Record<string, unknown>): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      const handler = handlers?.[functionName];
      try {
        if (handler === undefined) throw new Error(`no handler for ${functionName}`);
        await invokeHandler(handler, functionName, event);
        return;
      } catch (error) {
        if (attempt >= tries) {
          log('error', 'event target failed; event dropped', { functionName, id: event.id, error });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, retryDelayMs * attempt));
      }
    }
  };

  const server = createServer((req, res) => {
    void (async () => {
      if (req.method !== 'POST' || req.headers['x-amz-target'] !== TARGET) {
        sendError(res, 400, 'UnknownOperationException', 'only PutEvents is served by the local event bus');
        return;
      }
      if (handlers === undefined) {
        sendError(res, 503, 'ServiceUnavailable', 'the local event bus is starting');
        return;
      }
      const raw = await readBody(req);
      let entries: Array<Record<string, unknown>>;
      try {
        entries = (JSON.parse(raw ?? '') as { Entries?: Array<Record<string, unknown>> }).Entries ?? [];
      } catch {
        sendError(res, 400, 'ValidationException', 'the body is not JSON');
        return;
      }
      const results = entries.map((entry) => {
        const id = randomUUID();
        let detail: unknown;
        try {
          detail = JSON.parse(String(entry.Detail ?? '{}'));
        } catch {
          return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is not JSON' };
        }
        const event = {
          version: '0',
          id,
          'detail-type': entry.DetailType,
          source: entry.Source,
          account: '000000000000',
          time: new Date(typeof entry.Time === 'number' ? entry.Time * 1000 : Date.now()).toISOString(),
          region: 'us-east-1',
          resources: entry.Resources ?? [],
          detail,
        };
        for (const rule of options.rules) {
          if (!matchesPattern(rule.pattern, event)) continue;
          const running = deliver(rule.functionName, event);
          inFlight.add(running);
          void running.finally(() => inFlight.delete(running));
        }
        return { EventId: id };
      });
      const failed = results.filter((r) => 'ErrorCode' in r).length;
      res.writeHead(200, { 'content-type': CONTENT_TYPE });
      res.end(JSON.stringify({ FailedEntryCount: failed, Entries: results }));
    })().catch((error: unknown) => {
      log('error', 'local event bus request failed', { error });
      if (!res.headersSent) sendError(res, 500, 'InternalException', 'internal error');
    });
  });
  const port = await listenOnLoopback(server, options.port);
  let stopping: Promise<void> | undefined;
  return {
    url: `http://${HOST}:${port}`,
    attach(h) {
      handlers = h;
    },
    async idle() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    stop() {
      stopping ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await Promise.allSettled([...inFlight]);
      })();
      return stopping;
    },
  };
}
