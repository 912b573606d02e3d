import { z } from 'zod';
import { SiteIdSchema } from './task-spec.ts';

export const PILOT_STATES = ['starting', 'idle', 'busy', 'draining', 'exited', 'lost'] as const;
export type PilotState = (typeof PILOT_STATES)[number];

/** What a pilot offers, sent at registration. A job it takes must fit this. */
export const PilotResourcesSchema = z.strictObject({
  cores: z.number().int().min(1).max(4096),
  memoryMB: z.number().int().min(1),
  diskMB: z.number().int().min(0),
  walltimeLeftSec: z.number().int().min(0),
});
export type PilotResources = z.infer<typeof PilotResourcesSchema>;

export const PilotRegistrationSchema = z.strictObject({
  siteId: SiteIdSchema,
  host: z.string().min(1).max(255),
  pid: z.number().int().positive(),
  version: z.string().max(64).default('dev'),
  resources: PilotResourcesSchema,
  batchId: z.string().max(128).optional(),
});
export type PilotRegistration = z.infer<typeof PilotRegistrationSchema>;

export interface Pilot extends PilotRegistration {
  pilotId: string;
  state: PilotState;
  registeredAt: string;
  lastHeartbeatAt: string;
  jobsRun: number;
  currentJobId?: string;
}
