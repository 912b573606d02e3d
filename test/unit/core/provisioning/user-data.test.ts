import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BOOT_LOG, batchPilotScript, cloudUserData, PILOT_FILE } from '#core/provisioning/user-data.ts';

const BASE = {
  region: 'eu-west-1',
  apiUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com',
  pilotObject: { bucket: 'cdk-assets-123', key: 'e3b0c442.cjs' },
  tokenParameter: '/gluon/dev/pilot-token',
};

/** The script's lines without comments and blanks, in order. */
function commands(script: string): string[] {
  return script
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

function indexOf(lines: string[], pattern: RegExp): number {
  const i = lines.findIndex((l) => pattern.test(l));
  expect(i, String(pattern)).toBeGreaterThanOrEqual(0);
  return i;
}

describe('cloudUserData', () => {
  it('is a bash script bash can parse', () => {
    const script = cloudUserData(BASE);
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    const check = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('shuts the instance down on every exit, set up before anything can fail', () => {
    const lines = commands(cloudUserData(BASE));
    const trap = indexOf(lines, /^trap '.*shutdown -h now.*' EXIT$/);
    expect(lines.slice(0, trap).join('\n')).not.toMatch(/curl|dnf|aws /);
    expect(lines).toContain('set -euo pipefail');
    expect(lines[1]).toBe(`exec >>${BOOT_LOG} 2>&1`);
  });

  it('asks IMDSv2 for a session token before reading metadata, and sends it on each read', () => {
    const lines = commands(cloudUserData(BASE));
    const token = indexOf(
      lines,
      /curl .*-X PUT "\$IMDS\/latest\/api\/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: \d+'/,
    );
    const read = indexOf(lines, /\/latest\/meta-data\/instance-id/);
    expect(token).toBeLessThan(read);
    expect(lines[read]).toContain('-H "X-aws-ec2-metadata-token: $IMDS_TOKEN"');
    expect(lines).toContain('IMDS=http://169.254.169.254');
    expect(commands(cloudUserData({ ...BASE, imdsEndpoint: 'http://127.0.0.1:9999' }))).toContain(
      'IMDS=http://127.0.0.1:9999',
    );
  });

  it('installs Node 22, fetches the pilot from S3, reads the token from SSM, then runs gluon-pilot cloud unprivileged', () => {
    const lines = commands(cloudUserData(BASE));
    const node = indexOf(lines, /^dnf install -y -q nodejs22$/);
    const fetch = indexOf(
      lines,
      /^aws s3 cp --region "\$REGION" .*s3:\/\/cdk-assets-123\/e3b0c442\.cjs "\$PILOT"$/,
    );
    const token = indexOf(
      lines,
      /^GLUON_PILOT_TOKEN=\$\(aws ssm get-parameter --region "\$REGION" --name \/gluon\/dev\/pilot-token --with-decryption /,
    );
    const run = indexOf(
      lines,
      /^setpriv --reuid=gluon --regid=gluon --init-groups "\$NODE" "\$PILOT" cloud$/,
    );
    expect(node).toBeLessThan(fetch);
    expect(fetch).toBeLessThan(token);
    expect(token).toBeLessThan(run);
    expect(lines).toContain(`PILOT=${PILOT_FILE}`);
    expect(lines).toContain('REGION=eu-west-1');
    expect(lines).toContain(`export GLUON_API_URL=${BASE.apiUrl}`);
    expect(lines).toContain('export GLUON_PILOT_TOKEN');
    expect(lines).toContain('export GLUON_TOKEN="$GLUON_PILOT_TOKEN"');
    // The token never reaches a command line or a file: it is only assigned and exported.
    expect(lines.filter((l) => /GLUON_(PILOT_)?TOKEN/.test(l))).toHaveLength(3);
  });

  it('fetches the pilot from an https URL when given one', () => {
    const lines = commands(
      cloudUserData({ ...BASE, pilotObject: { url: 'https://example.org/p.cjs?a=1&b=2' } }),
    );
    expect(lines).toContain(
      `curl -fsSL --retry 5 --retry-connrefused -o "$PILOT" 'https://example.org/p.cjs?a=1&b=2'`,
    );
    expect(lines.join('\n')).not.toContain('aws s3 cp');
  });

  it('quotes values, so a value cannot run commands (CloudFormation tokens stay whole)', () => {
    const script = cloudUserData({
      ...BASE,
      apiUrl: "https://x'; rm -rf / #",
      region: '${Token[AWS.Region.7]}',
    });
    const lines = commands(script);
    expect(lines).toContain(`export GLUON_API_URL='https://x'\\''; rm -rf / #'`);
    expect(lines).toContain("REGION='${Token[AWS.Region.7]}'");
    const check = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
    expect(check.status).toBe(0);
  });
});

describe('batchPilotScript', () => {
  it('is a script bash can parse that fetches the same pilot and token, then execs one batch pilot', () => {
    const script = batchPilotScript(BASE);
    expect(spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' }).status).toBe(0);
    const lines = commands(script);
    const fetch = indexOf(
      lines,
      /^aws s3 cp --region "\$REGION" .*s3:\/\/cdk-assets-123\/e3b0c442\.cjs "\$PILOT"$/,
    );
    const token = indexOf(
      lines,
      /^GLUON_PILOT_TOKEN=\$\(aws ssm get-parameter .*--name \/gluon\/dev\/pilot-token /,
    );
    const run = indexOf(lines, /^exec "\$NODE" "\$PILOT" run --cloud batch$/);
    expect(fetch).toBeLessThan(token);
    expect(token).toBeLessThan(run);
    expect(run).toBe(lines.length - 1);
    // No IMDS and no shutdown in a container; the site from the provisioner's GLUON_SITE_ID.
    expect(script).not.toContain('shutdown');
    expect(script).not.toContain('169.254.169.254');
    expect(lines).toContain('export GLUON_SITE="${GLUON_SITE:-${GLUON_SITE_ID:-}}"');
  });

  it('takes GLUON_SITE_ID as the site when the job sets no GLUON_SITE', () => {
    const line = commands(batchPilotScript(BASE)).find((l) => l.startsWith('export GLUON_SITE='));
    const run = (env: Record<string, string>) =>
      spawnSync('bash', ['-c', `${line}; printf %s "$GLUON_SITE"`], { env, encoding: 'utf8' }).stdout;
    expect(run({ GLUON_SITE_ID: 'aws-batch' })).toBe('aws-batch');
    expect(run({ GLUON_SITE: 'cern', GLUON_SITE_ID: 'aws-batch' })).toBe('cern');
  });
});
