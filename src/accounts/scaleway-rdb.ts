// Scaleway Managed Database for PostgreSQL: find the instance whose endpoint is the host among
// the instances of the host's region, then fetch its TLS certificate. Request and response shapes
// follow Scaleway's Go SDK (scaleway/scaleway-sdk-go, api/rdb/v1/rdb_sdk.go: ListInstances,
// Endpoint, GetInstanceCertificate; scw/custom_types.go: a File's content is base64 in JSON;
// scw/env.go: SCW_SECRET_KEY).
import { PgcertsError } from '../errors.js';
import { badShape, decodeBase64Field, isRecord } from './api.js';
import type { AccountApi, AccountProvider, AccountResource, FetchedCa, ResourceSearch } from './provider.js';

const API = 'https://api.scaleway.com';
/** The host rule's form: rw-<instance id>.rdb.<region>.scw.cloud (registry/providers/scaleway-rdb.json). */
const HOST = /^rw-[0-9a-f-]{36}\.rdb\.(?<region>[a-z]{2}-[a-z]{3})\.scw\.cloud$/;
const PAGE_SIZE = 100;
const MAX_PAGES = 100;

/** Every host name an instance's endpoints give (public load balancer, private network, direct access). */
function hostsOf(instance: Record<string, unknown>): string[] {
  const endpoints: unknown[] = [...(Array.isArray(instance.endpoints) ? instance.endpoints : []), ...(isRecord(instance.endpoint) ? [instance.endpoint] : [])];
  return endpoints.flatMap((endpoint: unknown) => (isRecord(endpoint) && typeof endpoint.hostname === 'string' ? [endpoint.hostname.toLowerCase()] : []));
}

/** Scaleway's Managed Database API (`GET /rdb/v1/regions/{r}/instances`, `.../instances/{id}/certificate`). */
export const scalewayRdb: AccountProvider = {
  id: 'scaleway-rdb',
  name: 'Scaleway',
  apiOrigin: API,
  tokenVariables: ['SCW_SECRET_KEY'],
  tokenHelp: 'the secret key of an API key that may read the project\'s Managed Databases (IAM, API keys in the console)',
  authorization: (token) => token,
  authHeader: 'x-auth-token',

  async findResource(host: string, api: AccountApi): Promise<ResourceSearch> {
    const region = HOST.exec(host)?.groups?.region;
    if (region === undefined) {
      throw new PgcertsError('INVALID_INPUT', `"${host}" is not a Managed Database endpoint name (rw-<instance id>.rdb.<region>.scw.cloud); import the certificate instead: \`pgcerts import scaleway-rdb <file> --host ${host}\`.`);
    }
    let count = 0;
    for (let page = 1; page <= MAX_PAGES; page++) {
      const url = `${API}/rdb/v1/regions/${region}/instances?page=${page}&page_size=${PAGE_SIZE}`;
      const answer = await api.getJson(url);
      if (!isRecord(answer) || !Array.isArray(answer.instances)) throw badShape(this, url, 'an "instances" list');
      for (const instance of answer.instances) {
        if (!isRecord(instance) || typeof instance.id !== 'string' || !/^[0-9a-f-]{36}$/.test(instance.id)) throw badShape(this, url, 'an "id" on every instance');
        count++;
        if (hostsOf(instance).includes(host)) {
          const resource: AccountResource = { id: instance.id, kind: 'instance', region, name: typeof instance.name === 'string' ? instance.name : undefined, project: typeof instance.project_id === 'string' ? instance.project_id : undefined };
          return { resource, searched: `${count} instances in ${region}` };
        }
      }
      // ListInstancesResponse has total_count; a short page is the last one either way.
      const total = typeof answer.total_count === 'number' ? answer.total_count : undefined;
      if (answer.instances.length < PAGE_SIZE || (total !== undefined && count >= total)) return { resource: undefined, searched: `${count} instance${count === 1 ? '' : 's'} in ${region}` };
    }
    throw new PgcertsError('DECODE_FAILED', `The Scaleway API listed more than ${MAX_PAGES} pages of instances in ${region}; pgcerts stopped. Import the certificate instead: \`pgcerts import scaleway-rdb <file> --host ${host}\`.`);
  },

  async fetchCa(resource: AccountResource, api: AccountApi): Promise<FetchedCa> {
    const url = `${API}/rdb/v1/regions/${resource.region}/instances/${resource.id}/certificate`;
    const answer = await api.getJson(url);
    if (!isRecord(answer) || typeof answer.content !== 'string') throw badShape(this, url, 'a "content" (base64 of the certificate file)');
    return { bytes: decodeBase64Field(this, url, 'content', answer.content), url };
  },
};
