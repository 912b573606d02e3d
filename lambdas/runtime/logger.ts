/** One structured JSON line per event, keys spelled as STYLE.md says (taskId, jobId, pilotId…). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string, keys?: Record<string, unknown>): void;
  info(message: string, keys?: Record<string, unknown>): void;
  warn(message: string, keys?: Record<string, unknown>): void;
  error(message: string, keys?: Record<string, unknown>): void;
}

export function createLogger(
  service: string,
  level: LogLevel = (process.env.GLUON_LOG_LEVEL as LogLevel) ?? 'info',
): Logger {
  const threshold = ORDER[level] ?? ORDER.info;
  const write = (lvl: LogLevel, message: string, keys?: Record<string, unknown>) => {
    if (ORDER[lvl] < threshold) return;
    const line = JSON.stringify({ level: lvl, service, message, time: new Date().toISOString(), ...keys });
    if (lvl === 'error' || lvl === 'warn') process.stderr.write(`${line}\n`);
    else process.stdout.write(`${line}\n`);
  };
  return {
    debug: (m, k) => write('debug', m, k),
    info: (m, k) => write('info', m, k),
    warn: (m, k) => write('warn', m, k),
    error: (m, k) => write('error', m, k),
  };
}
