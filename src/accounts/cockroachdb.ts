// CockroachDB Cloud: list the organisation's clusters through the Cloud API, find the one whose
// region SQL name is the host, then download that cluster's CA certificate. The list call and its
// Bearer secret key follow Cockroach Labs' Cloud API page (cockroachlabs.com/docs/cockroachcloud/
// cloud-api); the certificate URL, and that it is fetched without a token, follow the official
// Terraform provider (cockroachdb/terraform-provider-cockroach, cluster_cert_data_source.go).
import { PgcertsError } from '../errors.js';
import { badShape, isRecord } from './api.js';
import type { AccountApi, AccountProvider, AccountResource, ResourceSearch } from './provider.js';

const API = 'https://cockroachlabs.cloud';
/** A bound on the pages of clusters, so an answer that never ends cannot keep pgcerts busy. */
const MAX_PAGES = 100;

/**
 * The SQL host names of a cluster, lower case: `regions[].sql_dns`. That field comes from
 * third-party Terraform code (secondary); no other host field is known.
 */
function hostsOf(cluster: Record<string, unknown>): string[] {
  if (!Array.isArray(cluster.regions)) return [];
  return cluster.regions.flatMap((region: unknown) => (isRecord(region) && typeof region.sql_dns === 'string' ? [region.sql_dns.toLowerCase()] : []));
}

/** CockroachDB Cloud's API (`GET /api/v1/clusters`) and certificate download (`GET /clusters/{id}/cert`). */
export const cockroachdb: AccountProvider = {
  id: 'cockroachdb',
  name: 'CockroachDB Cloud',
  apiOrigin: API,
  // The Terraform provider reads COCKROACH_API_KEY, and COCKROACH_API_JWT as an alternative (models.go).
  tokenVariables: ['COCKROACH_API_KEY', 'COCKROACH_API_JWT'],
  tokenHelp: 'a CockroachDB Cloud API secret key whose service account can read the cluster',
  // The Cloud API page: `Authorization: Bearer {secret_key}`.
  authorization: (token) => `Bearer ${token}`,

  async findResource(host: string, api: AccountApi): Promise<ResourceSearch> {
    // The Cloud API allows 10 requests per second per user: pages are asked for one at a time, and
    // the downloader retries a 429 answer.
    const first = `${API}/api/v1/clusters`;
    const clusters: Array<Record<string, unknown>> = [];
    const seen = new Set<string>();
    let url: string | undefined = first;
    for (let page = 1; url !== undefined; page++) {
      if (page > MAX_PAGES) throw new PgcertsError('DECODE_FAILED', `The CockroachDB Cloud API listed more than ${MAX_PAGES} pages of clusters; pgcerts stopped. Import the CA instead: \`pgcerts import cockroachdb <file> --host ${host}\`.`);
      const answer = await api.getJson(url);
      if (!isRecord(answer) || !Array.isArray(answer.clusters)) throw badShape(this, url, 'a "clusters" list');
      for (const cluster of answer.clusters) {
        if (!isRecord(cluster) || typeof cluster.id !== 'string' || cluster.id === '') throw badShape(this, url, 'an "id" on every cluster');
        clusters.push(cluster);
      }
      // Unconfirmed: the answer's `pagination` object is known only from a third-party copy of the
      // schema. pgcerts reads a non-empty `pagination.next_page` token, if there is one, and asks
      // for it as `pagination.page`; without a token the list is taken as complete. The token is
      // only placed in a URL built on the API origin, so it cannot send the key anywhere else.
      const pagination = isRecord(answer.pagination) ? answer.pagination : {};
      const next = pagination.next_page;
      if (typeof next !== 'string' || next === '') break;
      if (seen.has(next)) throw new PgcertsError('DECODE_FAILED', `The CockroachDB Cloud API gave the same "pagination.next_page" twice; pgcerts stopped. Try again later, or import the CA: \`pgcerts import cockroachdb <file> --host ${host}\`.`);
      seen.add(next);
      url = `${first}?pagination.page=${encodeURIComponent(next)}`;
    }
    const searched = `${clusters.length} cluster${clusters.length === 1 ? '' : 's'}`;
    const match = clusters.find((cluster) => hostsOf(cluster).includes(host));
    if (!match) return { resource: undefined, searched };
    return { resource: { id: match.id as string, kind: 'cluster', name: typeof match.name === 'string' && match.name !== '' ? match.name : undefined }, searched };
  },

  async fetchCa(resource: AccountResource, api: AccountApi): Promise<{ bytes: Buffer; url: string }> {
    // The Terraform provider downloads this URL with no Authorization header, and so does pgcerts:
    // the key is not needed for it, so it is not sent (the origin check still applies).
    const url = `${API}/clusters/${encodeURIComponent(resource.id)}/cert`;
    return { bytes: await api.getBytes(url, { anonymous: true }), url };
  },
};
