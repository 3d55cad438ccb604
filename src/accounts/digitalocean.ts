// DigitalOcean Managed Databases: list the account's clusters (and their read replicas), find the
// one with the host, fetch its CA. Request and response shapes follow DigitalOcean's OpenAPI
// specification (https://github.com/digitalocean/openapi, specification/resources/databases).
import { PgcertsError } from '../errors.js';
import { quoteInput } from '../redact.js';
import { badShape, decodeBase64Field, isRecord } from './api.js';
import type { AccountApi, AccountProvider, AccountResource, ResourceSearch } from './provider.js';

const API = 'https://api.digitalocean.com';
/** A bound on `links.pages.next`, so a looping answer cannot keep pgcerts busy. */
const MAX_PAGES = 100;
// models/database_cluster.yml: the connection objects whose `host` a client may connect to.
const CLUSTER_CONNECTIONS = ['connection', 'private_connection', 'standby_connection', 'standby_private_connection'];
// models/database_replica.yml.
const REPLICA_CONNECTIONS = ['connection', 'private_connection'];

function hostsOf(entry: Record<string, unknown>, fields: readonly string[]): string[] {
  return fields.flatMap((field) => {
    const connection = entry[field];
    return isRecord(connection) && typeof connection.host === 'string' ? [connection.host.toLowerCase()] : [];
  });
}

function resourceOf(cluster: Record<string, unknown>): AccountResource {
  return { id: cluster.id as string, kind: 'database cluster', name: typeof cluster.name === 'string' ? cluster.name : undefined };
}

/** DigitalOcean's API (`GET /v2/databases`, `/v2/databases/{uuid}/replicas`, `/v2/databases/{uuid}/ca`). */
export const digitalocean: AccountProvider = {
  id: 'digitalocean',
  name: 'DigitalOcean',
  apiOrigin: API,
  // doctl reads DIGITALOCEAN_ACCESS_TOKEN (commands/doit.go); DigitalOcean's curl and PyDo samples use DIGITALOCEAN_TOKEN.
  tokenVariables: ['DIGITALOCEAN_ACCESS_TOKEN', 'DIGITALOCEAN_TOKEN'],
  tokenHelp: 'a personal access token with the database:read scope, made under API, Tokens in the control panel',
  authorization: (token) => `Bearer ${token}`,
  // Naming the cluster serves hosts the API cannot be searched for (a CNAME in service_cnames).
  resourceFlag: {
    flag: '--cluster',
    shape: 'CLUSTER_UUID',
    parse(value: string): AccountResource {
      const id = value.trim().toLowerCase();
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) throw new PgcertsError('INVALID_INPUT', `--cluster ${quoteInput(value)} is not a DigitalOcean cluster id; give the uuid \`doctl databases list\` shows.`);
      return { id, kind: 'database cluster' };
    },
  },

  async findResource(host: string, api: AccountApi): Promise<ResourceSearch> {
    const clusters: Array<Record<string, unknown>> = [];
    // The spec documents no page parameters here, but doctl pages through `links.pages.next`.
    let url: string | undefined = `${API}/v2/databases`;
    for (let page = 1; url !== undefined; page++) {
      if (page > MAX_PAGES) throw new PgcertsError('DECODE_FAILED', `The DigitalOcean API listed more than ${MAX_PAGES} pages of database clusters; pgcerts stopped. Import the CA instead: \`pgcerts import digitalocean <file> --host ${host}\`.`);
      const answer = await api.getJson(url);
      if (!isRecord(answer) || !(Array.isArray(answer.databases) || answer.databases === null)) throw badShape(this, url, 'a "databases" list');
      for (const cluster of (answer.databases ?? []) as unknown[]) {
        if (!isRecord(cluster) || typeof cluster.id !== 'string' || cluster.id === '') throw badShape(this, url, 'an "id" on every cluster');
        clusters.push(cluster);
      }
      const links = isRecord(answer.links) && isRecord(answer.links.pages) ? answer.links.pages : {};
      url = typeof links.next === 'string' && links.next !== '' ? links.next : undefined;
    }
    const searched = `${clusters.length} database cluster${clusters.length === 1 ? '' : 's'}`;
    const direct = clusters.find((cluster) => hostsOf(cluster, CLUSTER_CONNECTIONS).includes(host));
    if (direct) return { resource: resourceOf(direct), searched };
    // Read replicas are listed per cluster and share the primary's CA (responses/database_replica.yml).
    for (const cluster of clusters) {
      if (cluster.engine !== undefined && cluster.engine !== 'pg') continue;
      const replicasUrl = `${API}/v2/databases/${encodeURIComponent(cluster.id as string)}/replicas`;
      const answer = await api.findJson(replicasUrl);
      if (answer === undefined) continue;
      if (!isRecord(answer) || !(Array.isArray(answer.replicas) || answer.replicas === null)) throw badShape(this, replicasUrl, 'a "replicas" list');
      const replicas = ((answer.replicas ?? []) as unknown[]).filter(isRecord);
      if (replicas.some((replica) => hostsOf(replica, REPLICA_CONNECTIONS).includes(host))) return { resource: resourceOf(cluster), searched };
    }
    return { resource: undefined, searched };
  },

  async fetchCa(resource: AccountResource, api: AccountApi): Promise<{ bytes: Buffer; url: string }> {
    const url = `${API}/v2/databases/${encodeURIComponent(resource.id)}/ca`;
    const answer = await api.getJson(url);
    const certificate = isRecord(answer) && isRecord(answer.ca) ? answer.ca.certificate : undefined;
    if (typeof certificate !== 'string') throw badShape(this, url, 'a "ca.certificate" string');
    // models/ca.yml: "base64 encoding of the certificate"; decoded, it is PEM text.
    return { bytes: decodeBase64Field(this, url, 'ca.certificate', certificate), url };
  },
};
