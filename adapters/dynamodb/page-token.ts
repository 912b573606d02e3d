/**
 * Page tokens: a DynamoDB LastEvaluatedKey as base64url JSON. Tokens come back from clients, so
 * they are checked against the key shape the query expects before DynamoDB sees them.
 */
import { ValidationError } from '#core/errors.ts';

export type KeyValue = string | number;
export type PageKey = Record<string, KeyValue>;

export function encodePageToken(key: Record<string, unknown> | undefined): string | undefined {
  if (key === undefined) return undefined;
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

function invalid(message: string): ValidationError {
  return new ValidationError('invalid page token', [{ field: 'nextToken', message }]);
}

/**
 * Decodes a token into an ExclusiveStartKey. `shape` names every key attribute and its type;
 * `fixed` gives attributes whose value must equal the query's (e.g. the partition key).
 */
export function decodePageToken(
  token: string | undefined,
  shape: Record<string, 'S' | 'N'>,
  fixed: Record<string, KeyValue> = {},
): PageKey | undefined {
  if (token === undefined) return undefined;
  if (!/^[A-Za-z0-9_-]+$/.test(token)) throw invalid('not a token from a previous page');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid('not a token from a previous page');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('not a token from a previous page');
  }
  const key = value as Record<string, unknown>;
  const names = Object.keys(key);
  const expected = Object.keys(shape);
  if (names.length !== expected.length || !expected.every((n) => Object.hasOwn(key, n))) {
    throw invalid('not a token for this listing');
  }
  for (const [name, type] of Object.entries(shape)) {
    const v = key[name];
    const ok = type === 'S' ? typeof v === 'string' : typeof v === 'number' && Number.isFinite(v);
    if (!ok) throw invalid('not a token for this listing');
  }
  for (const [name, v] of Object.entries(fixed)) {
    if (key[name] !== v) throw invalid('not a token for this listing');
  }
  return key as PageKey;
}
