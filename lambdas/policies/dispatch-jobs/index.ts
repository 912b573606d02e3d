import { config } from '../../runtime/config.ts';
import { productionDeps } from '../../runtime/deps.ts';
import { createHandler } from './handler.ts';

export const handler = createHandler(productionDeps(), { rounds: config().GLUON_DISPATCH_ROUNDS });
