import { describe, expect, it } from 'vitest';
import { signatureOf } from '#adapters/http/fetch-webhook-sender.ts';

describe('signatureOf', () => {
  it.each([
    // RFC 4231 test case 2 (HMAC-SHA256).
    [
      'Jefe',
      'what do ya want for nothing?',
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    ],
    // The same body with another secret signs differently.
    ['Jeff', 'what do ya want for nothing?', undefined],
  ] as const)('signs %s / %s', (secret, body, hex) => {
    const signature = signatureOf(secret, body);
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    if (hex !== undefined) expect(signature).toBe(`sha256=${hex}`);
    else expect(signature).not.toBe(signatureOf('Jefe', body));
  });
});
