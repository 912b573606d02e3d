/**
 * How the local stack reports what happens: one function (a level, a message, log keys), written
 * by the one logger of Gluon (platform/logger.ts) in its human-readable form.
 */
import { createLogger, type LogFields, type Logger, type LogLevel } from '#platform/logger.ts';

export type { LogLevel };
export type Log = (level: LogLevel, message: string, fields?: LogFields) => void;

const consoleLogger = createLogger({
  level: process.env.GLUON_LOCAL_DEBUG === undefined ? 'info' : 'debug',
  format: 'pretty',
  write: (line, level) => {
    const text = `[gluon-local] ${line}`;
    if (level === 'error' || level === 'warn') process.stderr.write(text);
    else process.stdout.write(text);
  },
});

/** Logs to the console (debug lines only when GLUON_LOCAL_DEBUG is set). */
export const consoleLog: Log = (level, message, fields) => consoleLogger[level](message, fields);

/** A log that drops everything (tests that do not look at logs). */
export const silentLog: Log = () => {};

/** The same log as a Logger (for the parts of Gluon the stack runs in-process, such as the factory agent). */
export function loggerOf(log: Log, base: LogFields = {}): Logger {
  return {
    debug: (m, f) => log('debug', m, { ...base, ...f }),
    info: (m, f) => log('info', m, { ...base, ...f }),
    warn: (m, f) => log('warn', m, { ...base, ...f }),
    error: (m, f) => log('error', m, { ...base, ...f }),
    child: (fields) => loggerOf(log, { ...base, ...fields }),
  };
}
