/**
 * The one logger of Gluon (functions, pilot, factory, local stack): structured lines with log
 * keys spelled as STYLE.md says (taskId, jobId, attempt, pilotId, siteId). JSON lines by default
 * (what CloudWatch Logs and a batch system's log file want); `pretty` for a person at a terminal.
 * Every byte written is counted, so the benchmark can price CloudWatch Logs ingestion per job.
 */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Keys on every line (e.g. `service`). */
  base?: LogFields;
  format?: 'json' | 'pretty';
  /** Where lines go (default: warnings and errors to stderr, the rest to stdout). */
  write?: (line: string, level: LogLevel) => void;
}

let bytesLogged = 0;
let sink: ((line: string, level: LogLevel) => void) | undefined;

/** Bytes written by every logger of this process so far (the benchmark's CloudWatch Logs volume). */
export function loggedBytes(): number {
  return bytesLogged;
}

/** Writes a line as it is (metric lines in Embedded Metric Format), counted like any log line. */
export function writeRawLine(line: string, level: LogLevel = 'info'): void {
  bytesLogged += Buffer.byteLength(line);
  defaultWrite(line, level);
}

/**
 * Sends the lines of every logger that writes to stdout/stderr by default somewhere else (the
 * benchmark measures them without printing them). Undefined restores the default.
 */
export function setDefaultLogSink(write: ((line: string, level: LogLevel) => void) | undefined): void {
  sink = write;
}

function levelFromEnv(): LogLevel {
  const value = process.env.GLUON_LOG_LEVEL;
  return (LOG_LEVELS as readonly string[]).includes(value ?? '') ? (value as LogLevel) : 'info';
}

const defaultWrite = (line: string, level: LogLevel): void => {
  if (sink !== undefined) sink(line, level);
  else if (level === 'error' || level === 'warn') process.stderr.write(line);
  else process.stdout.write(line);
};

/** An Error keeps its name and message (and stack, for errors) in a log line. */
function serialise(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? levelFromEnv();
  const threshold = LOG_LEVELS.indexOf(level);
  const base = options.base ?? {};
  const write = options.write ?? defaultWrite;
  const format = options.format ?? 'json';
  const log = (lvl: LogLevel, message: string, fields?: LogFields): void => {
    if (LOG_LEVELS.indexOf(lvl) < threshold) return;
    let line: string;
    if (format === 'json') {
      const record: LogFields = { time: new Date().toISOString(), level: lvl, message, ...base };
      for (const [key, value] of Object.entries(fields ?? {})) record[key] = serialise(value);
      line = `${JSON.stringify(record)}\n`;
    } else {
      const keys = { ...base, ...fields };
      const rest = Object.keys(keys).length === 0 ? '' : ` ${JSON.stringify(keys, (_k, v) => serialise(v))}`;
      line = `${lvl === 'info' ? '' : `${lvl}: `}${message}${rest}\n`;
    }
    bytesLogged += Buffer.byteLength(line);
    write(line, lvl);
  };
  return {
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
    child: (fields) => createLogger({ ...options, level, base: { ...base, ...fields } }),
  };
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};

/** Every line to stderr (a command whose stdout is for its user, or a pilot under a batch system). */
export const toStderr = (line: string): void => {
  process.stderr.write(line);
};
