import { createWriteStream, type WriteStream } from 'node:fs';

/**
 * An append-only log file with a size cap: once the cap is reached a marker line is written and
 * further output is dropped (and counted). The file never grows beyond `capBytes`. `onFull` is
 * called once, when output is first dropped.
 */
export class CappedLog {
  private readonly stream: WriteStream;
  private readonly capBytes: number;
  private readonly marker: Buffer;
  private readonly onFull: (() => void) | undefined;
  private written = 0;
  private dropped = 0;
  private full = false;

  constructor(path: string, capBytes: number, options: { onFull?: () => void; markerText?: string } = {}) {
    this.capBytes = capBytes;
    this.onFull = options.onFull;
    this.marker = Buffer.from(
      `\n[gluon-pilot] log cap of ${capBytes} bytes reached; ${options.markerText ?? 'further output dropped'}\n`,
    );
    this.stream = createWriteStream(path, { flags: 'a' });
    // Errors surface in close(); a failing disk must not crash the pilot in the middle of a job.
    this.stream.on('error', () => {});
  }

  get bytesWritten(): number {
    return this.written;
  }

  get bytesDropped(): number {
    return this.dropped;
  }

  /** Everything the payload wrote, kept or not. */
  get bytesSeen(): number {
    return this.written + this.dropped;
  }

  write(chunk: Buffer | string): void {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.full) {
      this.dropped += data.length;
      return;
    }
    const room = this.capBytes - this.written - this.marker.length;
    if (data.length <= room) {
      this.append(data);
      return;
    }
    const kept = Math.max(0, room);
    if (kept > 0) this.append(data.subarray(0, kept));
    this.dropped += data.length - kept;
    this.full = true;
    this.append(this.marker.subarray(0, Math.max(0, this.capBytes - this.written)));
    try {
      this.onFull?.();
    } catch {
      // an observer must not break the log
    }
  }

  /** Flushes and closes the file. */
  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.stream.closed) {
        resolve();
        return;
      }
      this.stream.end((error?: Error | null) => (error ? reject(error) : resolve()));
    });
  }

  private append(data: Buffer): void {
    if (data.length === 0) return;
    this.written += data.length;
    this.stream.write(data);
  }
}
