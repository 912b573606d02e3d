import { MetadataFilterSchema } from '#core/catalog/catalog.ts';
import {
  closeDataset,
  createDataset,
  datasetView,
  fileView,
  getDataset,
  getFile,
  listDatasetFiles,
  listDatasets,
  listEndpoints,
  metadataFilterOf,
  putEndpoint,
  searchFiles,
} from '#core/catalog/manage-catalog.ts';
import { registerFiles } from '#core/catalog/register-files.ts';
import { createScope, listScopes } from '#core/catalog/scopes.ts';
import type { Deps } from '#core/deps.ts';
import { httpHandler, withPageToken } from '../../http/http-handler.ts';
import { routeDispatcher } from '../../http/route-dispatch.ts';

type CatalogApiDeps = Pick<Deps, 'catalog' | 'clock' | 'sites' | 'buckets'>;

/** POST /catalog/scopes — an operator makes a scope and names its owners. */
export const createScopeHandler = (deps: CatalogApiDeps) =>
  httpHandler('createScope', async ({ body, principal }) => createScope(deps, principal, body));

/** GET /catalog/scopes */
export const listScopesHandler = (deps: CatalogApiDeps) =>
  httpHandler('listScopes', async ({ principal }) => listScopes(deps, principal));

/** PUT /catalog/endpoints/{endpointId} — an operator defines a storage endpoint. */
export const putEndpointHandler = (deps: CatalogApiDeps) =>
  httpHandler('putEndpoint', async ({ params, body }) =>
    putEndpoint(deps, { ...body, endpointId: params.endpointId }),
  );

/** GET /catalog/endpoints */
export const listEndpointsHandler = (deps: CatalogApiDeps) =>
  httpHandler('listEndpoints', async () => ({ items: await listEndpoints(deps) }));

/** POST /catalog/datasets */
export const createDatasetHandler = (deps: CatalogApiDeps) =>
  httpHandler('createDataset', async ({ body, principal }) =>
    datasetView(await createDataset(deps, principal, body)),
  );

/** GET /catalog/datasets?scope=…&prefix=… */
export const listDatasetsHandler = (deps: CatalogApiDeps) =>
  httpHandler('listDatasets', async ({ query }) => {
    const page = await withPageToken(() => listDatasets(deps, query));
    return { ...page, items: page.items.map(datasetView) };
  });

/** GET /catalog/datasets/{did} */
export const getDatasetHandler = (deps: CatalogApiDeps) =>
  httpHandler('getDataset', async ({ params }) => datasetView(await getDataset(deps, params.did)));

/** POST /catalog/datasets/{did}/close */
export const closeDatasetHandler = (deps: CatalogApiDeps) =>
  httpHandler('closeDataset', async ({ params, principal }) =>
    datasetView(await closeDataset(deps, principal, params.did)),
  );

/** GET /catalog/datasets/{did}/files */
export const listDatasetFilesHandler = (deps: CatalogApiDeps) =>
  httpHandler('listDatasetFiles', async ({ params, query }) => {
    const page = await withPageToken(() => listDatasetFiles(deps, params.did, query));
    return { ...page, items: page.items.map(fileView) };
  });

/** POST /catalog/files — a manifest, or an endpoint bucket's listing. */
export const registerFilesHandler = (deps: CatalogApiDeps) =>
  httpHandler('registerFiles', async ({ body, principal }) => registerFiles(deps, principal, body));

/** GET /catalog/files/{did} */
export const getFileHandler = (deps: CatalogApiDeps) =>
  httpHandler('getFile', async ({ params }) => fileView(await getFile(deps, params.did)));

/** GET /catalog/files?scope=…&meta.<key>=<value> */
export const searchFilesHandler = (deps: CatalogApiDeps) =>
  httpHandler('searchFiles', async ({ query }) => {
    const filter = MetadataFilterSchema.parse(metadataFilterOf(query));
    const page = await withPageToken(() =>
      searchFiles(deps, {
        scope: query.scope,
        limit: query.limit,
        ...(query.nextToken === undefined ? {} : { nextToken: query.nextToken }),
        filter,
      }),
    );
    return { ...page, items: page.items.map(fileView) };
  });

/** The catalog-api function: every catalog operation, picked by the route. */
export function createHandler(deps: CatalogApiDeps) {
  return routeDispatcher({
    createScope: createScopeHandler(deps),
    listScopes: listScopesHandler(deps),
    putEndpoint: putEndpointHandler(deps),
    listEndpoints: listEndpointsHandler(deps),
    createDataset: createDatasetHandler(deps),
    listDatasets: listDatasetsHandler(deps),
    getDataset: getDatasetHandler(deps),
    closeDataset: closeDatasetHandler(deps),
    listDatasetFiles: listDatasetFilesHandler(deps),
    registerFiles: registerFilesHandler(deps),
    getFile: getFileHandler(deps),
    searchFiles: searchFilesHandler(deps),
  });
}
