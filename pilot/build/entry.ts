/**
 * The `gluon-pilot` program as shipped (dist/gluon-pilot, bin/gluon-pilot.mjs): the pilot's own
 * commands (pilot/main.ts: `run`) plus the site's pilot factory (`factory`).
 */
import './with-factory-command.ts';
import '../main.ts';
