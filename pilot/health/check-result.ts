import type { HealthCheck } from '#core/pilots/pilot.ts';

const VALUE_MAX = 256;
const MESSAGE_MAX = 1024;

/** A HealthCheck within the contract's length limits. */
export function checkResult(name: string, ok: boolean, value?: string, message?: string): HealthCheck {
  const result: HealthCheck = { name, ok };
  if (value !== undefined) result.value = value.slice(0, VALUE_MAX);
  if (message !== undefined) result.message = message.slice(0, MESSAGE_MAX);
  return result;
}

/** `1234.5` → `1.2 GB` / `850 MB`, for values shown to operators. */
export function formatMB(mb: number): string {
  return mb >= 1024 ? `${(mb / 1024).toFixed(1)} GB` : `${Math.round(mb)} MB`;
}
