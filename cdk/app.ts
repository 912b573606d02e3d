/**
 * `cdk synth|diff|deploy|destroy` run this (cdk.json). Stage: `-c stage=dev|prod` (default dev).
 * cdk-nag AwsSolutions runs as a validation plugin: findings fail the synth.
 */
import { createGluonApp } from './gluon-app.ts';

const { app } = createGluonApp({ nag: true });
app.synth();
