/**
 * A stand-in for pilot/main.ts in the local stack's tests: it prints one JSON line with the
 * arguments and the Gluon variables the pilot factory gave it, then waits for SIGTERM and exits 0.
 */
const given = {
  argv: process.argv.slice(2),
  pilotToken: process.env.GLUON_PILOT_TOKEN,
  dynamodb: process.env.AWS_ENDPOINT_URL_DYNAMODB,
  cwd: process.cwd(),
};
console.log(JSON.stringify(given));
process.on('SIGTERM', () => {
  console.log('SIGTERM');
  process.exit(0);
});
setInterval(() => {}, 60_000);
