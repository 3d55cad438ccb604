// Akamai Cloud (Linode) Managed Databases: list the account's PostgreSQL databases, find the one
// whose primary or secondary host is the host, fetch its CA. Request and response shapes follow
// Linode's Go client (linode/linodego postgres.go: ListPostgresDatabases, GetPostgresDatabaseSSL,
// whose ca_certificate is []byte, so base64 in JSON) and the API's usual page/pages envelope.
// Token variables: linode-cli reads LINODE_CLI_TOKEN; Linode's own examples export LINODE_TOKEN.
import { PgcertsError } from '../errors.js';
import { badShape, decodeBase64Field, isRecord } from './api.js';
import type { AccountApi, AccountProvider, AccountResource, FetchedCa, ResourceSearch } from './provider.js';

const API = 'https://api.linode.com';
const PAGE_SIZE = 100;
const MAX_PAGES = 100;

function hostsOf(database: Record<string, unknown>): string[] {
  const hosts = isRecord(database.hosts) ? database.hosts : {};
  return ['primary', 'secondary', 'standby'].flatMap((field) => (typeof hosts[field] === 'string' && hosts[field] !== '' ? [(hosts[field] as string).toLowerCase()] : []));
}

/** Linode's API (`GET /v4/databases/postgresql/instances`, `.../instances/{id}/ssl`). */
export const linode: AccountProvider = {
  id: 'linode',
  name: 'Linode',
  apiOrigin: API,
  tokenVariables: ['LINODE_CLI_TOKEN', 'LINODE_TOKEN'],
  tokenHelp: 'a personal access token with Databases read access, made in Cloud Manager under API Tokens',
  authorization: (token) => `Bearer ${token}`,

  async findResource(host: string, api: AccountApi): Promise<ResourceSearch> {
    let count = 0;
    for (let page = 1; page <= MAX_PAGES; page++) {
      const url = `${API}/v4/databases/postgresql/instances?page=${page}&page_size=${PAGE_SIZE}`;
      const answer = await api.getJson(url);
      if (!isRecord(answer) || !Array.isArray(answer.data)) throw badShape(this, url, 'a "data" list');
      for (const database of answer.data) {
        if (!isRecord(database) || !Number.isSafeInteger(database.id)) throw badShape(this, url, 'a numeric "id" on every database');
        count++;
        if (hostsOf(database).includes(host)) {
          const resource: AccountResource = { id: String(database.id), kind: 'database', name: typeof database.label === 'string' ? database.label : undefined, region: typeof database.region === 'string' ? database.region : undefined };
          return { resource, searched: `${count} PostgreSQL databases` };
        }
      }
      const pages = typeof answer.pages === 'number' ? answer.pages : 1;
      if (page >= pages) return { resource: undefined, searched: `${count} PostgreSQL database${count === 1 ? '' : 's'}` };
    }
    throw new PgcertsError('DECODE_FAILED', `The Linode API listed more than ${MAX_PAGES} pages of databases; pgcerts stopped. Import the CA instead: \`pgcerts import linode <file> --host ${host}\`.`);
  },

  async fetchCa(resource: AccountResource, api: AccountApi): Promise<FetchedCa> {
    const url = `${API}/v4/databases/postgresql/instances/${encodeURIComponent(resource.id)}/ssl`;
    const answer = await api.getJson(url);
    const certificate = isRecord(answer) ? answer.ca_certificate : undefined;
    if (typeof certificate !== 'string') throw badShape(this, url, 'a "ca_certificate" string');
    return { bytes: decodeBase64Field(this, url, 'ca_certificate', certificate), url };
  },
};
