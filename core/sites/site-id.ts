import { z } from 'zod';

/** Identifiers that end up in keys, queue names and S3 prefixes: keep them boring. */
export const SiteIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lower-case letters, digits and dashes, at most 40 characters');
