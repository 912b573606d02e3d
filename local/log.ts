/** How the local stack reports what happens: one function, a level, a message and log keys. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Log = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/** Logs to the console (debug lines only when GLUON_LOCAL_DEBUG is set). */
export const consoleLog: Log = (level, message, fields) => {
  if (level === 'debug' && process.env.GLUON_LOCAL_DEBUG === undefined) return;
  const line = fields === undefined ? message : `${message} ${JSON.stringify(fields, errorReplacer)}`;
  const text = `[gluon-local] ${level === 'info' ? '' : `${level}: `}${line}`;
  if (level === 'error' || level === 'warn') console.error(text);
  else console.log(text);
};

/** A log that drops everything (tests that do not look at logs). */
export const silentLog: Log = () => {};

/** JSON.stringify replacer that keeps an Error's name, message and stack. */
export function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}
