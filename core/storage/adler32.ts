const MOD_ADLER = 65521;
/** Largest number of bytes that can be summed before the 32-bit sums must be reduced. */
const NMAX = 5552;

/**
 * A running Adler-32 (RFC 1950) checksum, the one Rucio and the grid tools use for files. Pure, so
 * the pilot (stage-in, stage-out) and the adapters (the transfer service's verification) share it.
 */
export class Adler32 {
  private a = 1;
  private b = 0;

  update(data: Uint8Array): this {
    let { a, b } = this;
    let i = 0;
    while (i < data.length) {
      const end = Math.min(i + NMAX, data.length);
      for (; i < end; i++) {
        a += data[i] as number;
        b += a;
      }
      a %= MOD_ADLER;
      b %= MOD_ADLER;
    }
    this.a = a;
    this.b = b;
    return this;
  }

  /** The checksum as 8 lower-case hex digits. */
  hex(): string {
    return (((this.b << 16) | this.a) >>> 0).toString(16).padStart(8, '0');
  }
}
