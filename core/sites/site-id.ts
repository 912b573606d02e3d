import { z } from 'zod';

/** Identifiers that end up in keys, queue names and S3 prefixes: keep them boring. */
export const SiteIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lower-case letters, digits and dashes, at most 40 characters');

/** A CPU architecture as `uname -m` names it: `x86_64`, `aarch64`, `ppc64le`, … */
export const ArchSchema = z
  .string()
  .regex(/^[a-z0-9_]{1,32}$/, 'an architecture as uname -m names it, e.g. x86_64 or aarch64');

/** The architecture of a site's slots when the site does not say. */
export const DEFAULT_ARCH = 'x86_64';

/** A site's tag, or a job's required tag: what the site offers beyond resources (`cvmfs`, `apptainer`, …). */
export const SiteTagSchema = z.string().min(1).max(64);
