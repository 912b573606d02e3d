/**
 * The stream mode's protocol between the pilot and one long-running payload process (AthenaMP
 * style), one JSON line per message over two named pipes (pilot/README.md, "Event service"):
 * GLUON_RANGES_FIFO, pilot → payload: a line per range, then `{"end":true}` and EOF;
 * GLUON_RESULTS_FIFO, payload → pilot: a line per range, `{"rangeIndex","ok":true}` or
 * `{"rangeIndex","ok":false,"error"}`.
 */
import { z } from 'zod';
import type { RangeParameters } from '#core/event-ranges/event-range.ts';

export const RANGES_FIFO_VAR = 'GLUON_RANGES_FIFO';
export const RESULTS_FIFO_VAR = 'GLUON_RESULTS_FIFO';

/** The line that tells the payload no range follows (EOF comes next). */
export const END_LINE = '{"end":true}\n';

/** A result line longer than this is not a result: a payload writing something else to the pipe. */
export const MAX_RESULT_LINE = 16 * 1024;

/**
 * The line sent for one range: its events [firstEvent, lastEvent], the input file's path when the
 * range is in a file, and the absolute path the payload must write the range's output to.
 */
export function rangeLine(range: RangeParameters, output: string, file?: string): string {
  return `${JSON.stringify({
    rangeIndex: range.rangeIndex,
    firstEvent: range.firstEvent,
    nEvents: range.nEvents,
    lastEvent: range.firstEvent + range.nEvents - 1,
    ...(file === undefined ? {} : { file }),
    output,
  })}\n`;
}

const ResultLineSchema = z.union([
  z.object({ rangeIndex: z.number().int().nonnegative(), ok: z.literal(true) }),
  z.object({
    rangeIndex: z.number().int().nonnegative(),
    ok: z.literal(false),
    error: z.string().optional(),
  }),
]);
export type ResultLine = z.infer<typeof ResultLineSchema>;

/** A result line, or why it is not one. */
export function parseResultLine(line: string): ResultLine | { invalid: string } {
  if (line.length > MAX_RESULT_LINE) return { invalid: `a line of ${line.length} characters` };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { invalid: `not JSON: ${line.slice(0, 200)}` };
  }
  const result = ResultLineSchema.safeParse(value);
  if (!result.success) return { invalid: `not a result ({"rangeIndex","ok"}): ${line.slice(0, 200)}` };
  return result.data;
}

/** Cuts a byte stream into lines; a line too long to be a result is handed on cut short, so it fails to parse. */
export class LineSplitter {
  private rest = '';

  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    if (this.rest.length > MAX_RESULT_LINE) {
      lines.push(this.rest.slice(0, MAX_RESULT_LINE + 1));
      this.rest = '';
    }
    return lines.filter((line) => line.trim() !== '');
  }
}
