/**
 * What keeping pilots alive costs, and how fast a vanished pilot's jobs run again, at several
 * heartbeat settings. The unit prices come from measurements on the local stand-ins (the write
 * units of one lease renewal, the read units a sweep of the leases costs per pilot); the counts per
 * pilot-day follow from the settings.
 */
import { dynamoDbCapacity, dynamoDbDocumentClient } from '#adapters/aws-clients.ts';
import { DynamoDbPilotLeaseStore } from '#adapters/dynamodb/dynamodb-pilot-lease-store.ts';
import { leaseExpiry } from '#core/pilots/lease.ts';
import { PRICES } from './prices.ts';

export interface LivenessUnits {
  /** Write units of one heartbeat (one renewal of a lease, whatever the jobs it covers). */
  writeUnitsPerBeat: number;
  /** Read units a sweep of the reaper costs per live pilot (an eventually consistent Scan). */
  readUnitsPerPilotSweep: number;
}

/** Measures the unit costs on the stand-in DynamoDB (GLUON_MEASURE_CAPACITY must be set). */
export async function measureLivenessUnits(leaseTable: string, pilots = 500): Promise<LivenessUnits> {
  const store = new DynamoDbPilotLeaseStore(dynamoDbDocumentClient(), leaseTable);
  const now = Date.now();
  const ids = Array.from({ length: pilots }, (_, i) => `p-bench${String(i).padStart(8, '0')}`);
  for (const pilotId of ids) {
    await store.create({
      pilotId,
      siteId: 'bench',
      host: 'bench-node-0001.example.org',
      state: 'busy',
      expiresAt: leaseExpiry(now, 120),
      jobs: [`t-0mx5bench00000000000.${pilotId.length}.1`],
      kill: [],
      jobsRun: 3,
      beatAt: new Date(now).toISOString(),
    });
  }
  const before = dynamoDbCapacity();
  for (const pilotId of ids.slice(0, 100)) {
    await store.renew(pilotId, {
      state: 'busy',
      expiresAt: leaseExpiry(Date.now(), 120),
      beatAt: new Date().toISOString(),
      jobsRun: 4,
    });
  }
  const afterBeats = dynamoDbCapacity();
  let cursor: string | undefined;
  do {
    const page = await store.scan(cursor);
    cursor = page.cursor;
  } while (cursor !== undefined);
  const afterScan = dynamoDbCapacity();
  for (const pilotId of ids) await store.remove(pilotId);
  return {
    writeUnitsPerBeat: (afterBeats.write - before.write) / 100,
    // DynamoDB Local reports strongly consistent units; the reaper's Scan is eventually consistent (half).
    readUnitsPerPilotSweep: (afterScan.read - afterBeats.read) / pilots / 2,
  };
}

export interface LivenessSetting {
  heartbeatSec: number;
  leaseSec: number;
  /** Time between two sweeps of the reaper (60 s / GLUON_REAP_SWEEPS). */
  sweepSec: number;
}

export interface LivenessFigures extends LivenessSetting {
  /** Dollars per 1,000 pilot-days: heartbeats and sweeps. */
  dollarsPer1000PilotDays: number;
  /** Worst case from a pilot's last heartbeat to its job's next attempt being dispatched: lease + sweep + dispatch. */
  recoverySec: number;
}

/** Credential renewals of vended pilots: one call (API + Lambda request) per pilot per ~50 min. */
export function credentialDollarsPer1000PilotDays(): number {
  const callsPerDay = 86_400 / 3000;
  return (1000 * callsPerDay * (PRICES.httpApiRequestPerMillion + PRICES.lambdaRequestPerMillion)) / 1e6;
}

export function livenessFigures(
  units: LivenessUnits,
  setting: LivenessSetting,
  dispatchSec: number,
): LivenessFigures {
  const beatsPerDay = 86_400 / setting.heartbeatSec;
  const sweepsPerDay = 86_400 / setting.sweepSec;
  const beats = (1000 * beatsPerDay * units.writeUnitsPerBeat * PRICES.dynamoDbWriteUnitPerMillion) / 1e6;
  const sweeps =
    (1000 * sweepsPerDay * units.readUnitsPerPilotSweep * PRICES.dynamoDbReadUnitPerMillion) / 1e6;
  return {
    ...setting,
    dollarsPer1000PilotDays: beats + sweeps,
    recoverySec: setting.leaseSec + setting.sweepSec + dispatchSec,
  };
}
