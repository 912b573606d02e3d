import { productionDeps } from '../../runtime/deps.ts';
import { createHandler } from './handler.ts';

export const handler = createHandler(productionDeps());
