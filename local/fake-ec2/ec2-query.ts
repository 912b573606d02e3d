/**
 * The EC2 query protocol as @aws-sdk/client-ec2 speaks it: a form-encoded POST
 * (`Action=CreateFleet&Version=2016-11-15&LaunchTemplateConfigs.1.Overrides.2.InstanceType=…`)
 * answered with XML in the 2016-11-15 namespace, lists as `<item>` elements, errors as
 * `<Response><Errors><Error><Code>…`.
 */

export const EC2_NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';

export type QueryValue = string | QueryValue[] | { [key: string]: QueryValue };
export type QueryParams = { [key: string]: QueryValue };

/**
 * The form's flat keys as nested values: `A.1.B=x&A.2.B=y` → `{ A: [{ B: 'x' }, { B: 'y' }] }`
 * (numbered segments are list members, 1-based).
 */
export function decodeQuery(body: string): QueryParams {
  const root: QueryParams = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const segments = key.split('.');
    let node: QueryParams | QueryValue[] = root;
    segments.forEach((segment, i) => {
      const last = i === segments.length - 1;
      const index = /^\d+$/.test(segment) ? Number(segment) - 1 : undefined;
      const nextIsIndex = !last && /^\d+$/.test(segments[i + 1] as string);
      const container = node as Record<string | number, QueryValue>;
      const slot = index ?? segment;
      if (last) {
        container[slot] = value;
        return;
      }
      container[slot] ??= nextIsIndex ? [] : {};
      node = container[slot] as QueryParams | QueryValue[];
    });
  }
  return compactLists(root) as QueryParams;
}

/** Lists with gaps (`A.1`, `A.3`) keep their members in order. */
function compactLists(value: QueryValue): QueryValue {
  if (Array.isArray(value)) return value.filter((v) => v !== undefined).map(compactLists);
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, compactLists(v)]));
  }
  return value;
}

/** A member that is a string, or undefined. */
export function str(params: QueryValue | undefined, key: string): string | undefined {
  if (params === undefined || typeof params !== 'object' || Array.isArray(params)) return undefined;
  const value = params[key];
  return typeof value === 'string' ? value : undefined;
}

/** A member that is a structure, or undefined. */
export function struct(params: QueryValue | undefined, key: string): QueryParams | undefined {
  if (params === undefined || typeof params !== 'object' || Array.isArray(params)) return undefined;
  const value = params[key];
  return value !== undefined && typeof value === 'object' && !Array.isArray(value) ? value : undefined;
}

/** A member that is a list (empty when absent). */
export function list(params: QueryValue | undefined, key: string): QueryValue[] {
  if (params === undefined || typeof params !== 'object' || Array.isArray(params)) return [];
  const value = params[key];
  return Array.isArray(value) ? value : [];
}

/** A member that is a list of strings (`InstanceId.1=…&InstanceId.2=…`). */
export function strings(params: QueryValue | undefined, key: string): string[] {
  return list(params, key).filter((v): v is string => typeof v === 'string');
}

/** EC2's `Tag.N.Key/Value` lists as a record. */
export function tagsOf(params: QueryValue | undefined, key = 'Tag'): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const tag of list(params, key)) {
    const tagKey = str(tag, 'Key');
    if (tagKey !== undefined) tags[tagKey] = str(tag, 'Value') ?? '';
  }
  return tags;
}

export type XmlValue = string | number | boolean | undefined | XmlValue[] | { [key: string]: XmlValue };

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** One element: structures as child elements, lists as `<item>`s, undefined members left out. */
export function xmlElement(name: string, value: XmlValue): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return `<${name}>${value.map((v) => xmlElement('item', v)).join('')}</${name}>`;
  if (typeof value === 'object') {
    const children = Object.entries(value)
      .map(([k, v]) => xmlElement(k, v))
      .join('');
    return `<${name}>${children}</${name}>`;
  }
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** A successful answer: `<ActionResponse xmlns=…><requestId/>…</ActionResponse>`. */
export function ec2Response(action: string, requestId: string, body: Record<string, XmlValue>): string {
  const children = Object.entries({ requestId, ...body })
    .map(([k, v]) => xmlElement(k, v))
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${EC2_NAMESPACE}">${children}</${action}Response>`;
}

/** An error as EC2 sends it (the SDK reads Code and Message). */
export function ec2ErrorResponse(code: string, message: string, requestId: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escapeXml(code)}</Code>` +
    `<Message>${escapeXml(message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`
  );
}

/** A failed call: the HTTP status and EC2 error code it is answered with. */
export class Ec2Error extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status = 400) {
    super(message);
    this.code = code;
    this.status = status;
  }
}
