// Google AlloyDB for PostgreSQL: the cluster CA, through the AlloyDB Admin API. The v1 API has
// one call that returns it: generateClientCertificate on the cluster answers `caCert`, "the
// pem-encoded cluster ca X.509 certificate", next to a short-lived client certificate that
// pgcerts discards (googleapis/googleapis google/cloud/alloydb/v1/service.proto). Google's Go
// connector builds its trust from exactly that field (alloydb-go-connector, internal/alloydb/
// refresh.go). v1's connectionInfo holds no certificate (only v1beta/v1alpha do), so it is not used.
import { generateKeyPairSync } from 'node:crypto';
import { PgcertsError } from '../errors.js';
import { quoteInput } from '../redact.js';
import { badShape, isRecord } from './api.js';
import { CLOUD_PLATFORM_SCOPE, describeGoogleCredential, getGoogleCredential } from './google-auth.js';
import type { AccountApi, AccountProvider, AccountResource, FetchedCa, ResourceSearch } from './provider.js';

const API = 'https://alloydb.googleapis.com';
// projects/{project}/locations/{region}/clusters/{cluster}, optionally followed by
// /instances/{instance} (the instance URI the AlloyDB connectors and Auth Proxy take).
const CLUSTER_NAME = /^projects\/(?<project>(?:[a-z0-9][a-z0-9.-]{0,62}:)?[a-z][a-z0-9-]{4,28}[a-z0-9])\/locations\/(?<region>[a-z]+-[a-z]+\d+)\/clusters\/(?<cluster>[a-z][a-z0-9-]{0,62})(?:\/instances\/[a-z][a-z0-9-]{0,62})?$/;
const CLUSTER_HELP = 'the cluster name projects/PROJECT/locations/REGION/clusters/CLUSTER (an instance URI ending in /instances/INSTANCE works too; `gcloud alloydb clusters list --format="value(name)"` prints it)';

function parseClusterName(value: string): AccountResource {
  const m = CLUSTER_NAME.exec(value.trim());
  if (!m?.groups) throw new PgcertsError('INVALID_INPUT', `--cluster ${quoteInput(value)} is not an AlloyDB cluster name; give ${CLUSTER_HELP}.`);
  const { project, region, cluster } = m.groups as { project: string; region: string; cluster: string };
  return { id: `projects/${project}/locations/${region}/clusters/${cluster}`, kind: 'cluster', project, region, name: cluster };
}

/** AlloyDB's Admin API (`generateClientCertificate`). */
export const alloydb: AccountProvider = {
  id: 'alloydb',
  name: 'AlloyDB Admin',
  apiOrigin: API,
  tokenVariables: ['GOOGLE_OAUTH_ACCESS_TOKEN', 'GOOGLE_APPLICATION_CREDENTIALS'],
  tokenHelp: 'an access token of an account that may connect to the cluster (roles/alloydb.client): sign in with `gcloud auth login`, or set GOOGLE_OAUTH_ACCESS_TOKEN=$(gcloud auth print-access-token), or point GOOGLE_APPLICATION_CREDENTIALS at a service account key',
  authorization: (token) => `Bearer ${token}`,
  credentialHint: 'set GOOGLE_OAUTH_ACCESS_TOKEN or GOOGLE_APPLICATION_CREDENTIALS, or sign in with gcloud',
  getCredential: (context) => getGoogleCredential({ ...context, scope: CLOUD_PLATFORM_SCOPE }),
  describeCredential: (env, homeDir) => describeGoogleCredential(env, homeDir),
  resourceFlag: { flag: '--cluster', shape: 'projects/PROJECT/locations/REGION/clusters/CLUSTER', parse: parseClusterName },

  async findResource(host: string): Promise<ResourceSearch> {
    // The registry has no AlloyDB host rule (clients dial IPs or private PSC names), so no host
    // reaches here through `--host`; the cluster must be named.
    throw new PgcertsError('INVALID_INPUT', `pgcerts cannot ask the AlloyDB API which cluster serves "${host}"; give the cluster: \`pgcerts fetch alloydb --cluster projects/PROJECT/locations/REGION/clusters/CLUSTER\`.`);
  },

  async fetchCa(resource: AccountResource, api: AccountApi): Promise<FetchedCa> {
    const { project, region, name } = parseClusterName(resource.id);
    const url = `${API}/v1/projects/${encodeURIComponent(project as string).replace(/%3A/g, ':')}/locations/${region}/clusters/${name}:generateClientCertificate`;
    // A throw-away key, as the connectors send: the client certificate the API signs for it is
    // never used or kept, and the private key never leaves this function.
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    let answer: unknown;
    try {
      answer = await api.postJson(url, { publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(), certDuration: '3600s', useMetadataExchange: false });
    } catch (error) {
      if (error instanceof PgcertsError && 'status' in error && (error as { status?: number }).status === 404) {
        throw new PgcertsError('RESOURCE_NOT_FOUND', `The AlloyDB Admin API knows no cluster "${resource.id}" (HTTP 404 from '${url}'). Check the name (${CLUSTER_HELP}) and that the account may see it.`, { cause: error });
      }
      throw error;
    }
    if (!isRecord(answer) || typeof answer.caCert !== 'string' || answer.caCert.trim() === '') throw badShape(this, url, 'a "caCert" PEM');
    return { bytes: Buffer.from(`${answer.caCert.trim()}\n`), url, trust: 'cluster-ca' };
  },
};
