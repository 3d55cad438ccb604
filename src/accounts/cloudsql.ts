// Google Cloud SQL for PostgreSQL: the server CAs of one instance, through the Cloud SQL Admin
// API. Request and response shapes follow Google's API definitions (googleapis/googleapis,
// google/cloud/sql/v1: cloud_sql_connect.proto, cloud_sql_instances.proto,
// cloud_sql_resources.proto) and what Google's Go connector does with them (resolver.go for DNS
// names, refresh.go for keeping every PEM block).
import { PgcertsError } from '../errors.js';
import { quoteInput } from '../redact.js';
import { badShape, isRecord } from './api.js';
import { describeGoogleCredential, getGoogleCredential } from './google-auth.js';
import type { AccountApi, AccountProvider, AccountResource, FetchedCa, ResourceSearch } from './provider.js';

const API = 'https://sqladmin.googleapis.com';
// The DNS names Cloud SQL gives instances: {instance}.{project label}.{region}.sql[-psa|-psc].goog.
// The region label always holds a dash; "global" names are write endpoints that redirect to the
// primary, which the API does not resolve.
const DNS_NAME = /^(?<instance>[a-z0-9]+)\.(?<project>[a-z0-9-]+)\.(?<region>[a-z0-9-]+)\.sql(?:-psa|-psc)?\.goog$/;
// A project id is 6 to 30 characters, or "domain:id" for the old domain-scoped projects; an
// instance id starts with a letter. Cloud SQL's connection name is PROJECT:REGION:INSTANCE.
const CONNECTION_NAME = /^(?<project>(?:[a-z0-9][a-z0-9.-]{0,62}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]):(?<region>[a-z]+-[a-z]+\d+):(?<instance>[a-z][a-z0-9-]{0,97})$/;
// ConnectSettings.serverCaMode (IpConfiguration.CaMode); unset means the per-instance CA.
const TRUST_OF_MODE: Record<string, string> = {
  CA_MODE_UNSPECIFIED: 'per-instance-ca',
  GOOGLE_MANAGED_INTERNAL_CA: 'per-instance-ca',
  GOOGLE_MANAGED_CAS_CA: 'shared-ca',
  CUSTOMER_MANAGED_CAS_CA: 'customer-ca',
};
const INSTANCE_HELP = 'the instance connection name shown on its Overview page or by `gcloud sql instances describe INSTANCE --format="value(connectionName)"`';

function parseConnectionName(value: string): AccountResource {
  const m = CONNECTION_NAME.exec(value.trim());
  if (!m?.groups) {
    throw new PgcertsError('INVALID_INPUT', `--instance ${quoteInput(value)} is not a Cloud SQL connection name; give PROJECT:REGION:INSTANCE, ${INSTANCE_HELP}.`);
  }
  const { project, region, instance } = m.groups as { project: string; region: string; instance: string };
  return { id: `${project}:${region}:${instance}`, kind: 'instance', project, region, name: instance };
}

/** `projects/{p}/instances/{i}` as a URL path: a domain-scoped project keeps its ":". */
function instancePath(resource: AccountResource): string {
  const { project, name } = parseConnectionName(resource.id);
  return `/v1/projects/${encodeURIComponent(project as string).replace(/%3A/g, ':')}/instances/${encodeURIComponent(name as string)}`;
}

function sslCertPem(value: unknown): string | undefined {
  return isRecord(value) && typeof value.cert === 'string' && value.cert.trim() !== '' ? value.cert.trim() : undefined;
}

/** Cloud SQL's Admin API (`resolveConnectSettings`, `connectSettings`, `listServerCas`). */
export const cloudsql: AccountProvider = {
  id: 'cloudsql',
  name: 'Cloud SQL Admin',
  apiOrigin: API,
  tokenVariables: ['GOOGLE_OAUTH_ACCESS_TOKEN', 'GOOGLE_APPLICATION_CREDENTIALS'],
  tokenHelp: 'an access token of an account that may view the instance (roles/cloudsql.viewer): sign in with `gcloud auth login`, or set GOOGLE_OAUTH_ACCESS_TOKEN=$(gcloud auth print-access-token), or point GOOGLE_APPLICATION_CREDENTIALS at a service account key',
  authorization: (token) => `Bearer ${token}`,
  credentialHint: 'set GOOGLE_OAUTH_ACCESS_TOKEN or GOOGLE_APPLICATION_CREDENTIALS, or sign in with gcloud',
  getCredential: (context) => getGoogleCredential(context),
  describeCredential: (env, homeDir) => describeGoogleCredential(env, homeDir),
  resourceFlag: { flag: '--instance', shape: 'PROJECT:REGION:INSTANCE', parse: parseConnectionName },

  async findResource(host: string, api: AccountApi): Promise<ResourceSearch> {
    const m = DNS_NAME.exec(host);
    const region = m?.groups?.region;
    if (!m || region === undefined || region === 'global' || !region.includes('-')) {
      const why = region === 'global' ? 'is a global write endpoint, which leads to whichever instance is primary' : 'is not an instance DNS name ({instance}.{project}.{region}.sql.goog)';
      throw new PgcertsError('INVALID_INPUT', `"${host}" ${why}; pgcerts cannot ask the API which instance it is. Give the instance instead: \`pgcerts fetch cloudsql --instance PROJECT:REGION:INSTANCE\`.`);
    }
    // The DNS name with its final dot, as the connector sends it (resolver.go).
    const url = `${API}/v1/locations/${encodeURIComponent(region)}/dns/${encodeURIComponent(`${host}.`)}:resolveConnectSettings`;
    const answer = await api.findJson(url);
    const searched = `the DNS names of Cloud SQL instances in ${region}`;
    if (answer === undefined) return { resource: undefined, searched };
    if (!isRecord(answer) || typeof answer.connectionName !== 'string') throw badShape(this, url, 'a "connectionName"');
    let resource: AccountResource;
    try {
      resource = parseConnectionName(answer.connectionName);
    } catch {
      throw badShape(this, url, 'a "connectionName" of the form PROJECT:REGION:INSTANCE');
    }
    return { resource, searched };
  },

  async fetchCa(resource: AccountResource, api: AccountApi): Promise<FetchedCa> {
    const path = instancePath(resource);
    const url = `${API}${path}/connectSettings`;
    const settings = await api.findJson(url);
    if (settings === undefined) {
      throw new PgcertsError('RESOURCE_NOT_FOUND', `The Cloud SQL Admin API knows no instance "${resource.id}" (HTTP 404 from '${url}'). Check the connection name (${INSTANCE_HELP}) and that the account may view it.`);
    }
    if (!isRecord(settings)) throw badShape(this, url, 'a JSON object');
    if (typeof settings.region === 'string' && resource.region !== undefined && settings.region !== resource.region) {
      throw new PgcertsError('INVALID_INPUT', `Cloud SQL instance "${resource.name}" of project "${resource.project}" is in region "${settings.region}", not "${resource.region}"; use --instance ${resource.project}:${settings.region}:${resource.name}.`);
    }
    const current = sslCertPem(settings.serverCaCert);
    if (current === undefined) throw badShape(this, url, 'a "serverCaCert.cert" PEM (is SSL/TLS configured on the instance?)');
    const mode = typeof settings.serverCaMode === 'string' ? settings.serverCaMode : 'CA_MODE_UNSPECIFIED';
    const trust = TRUST_OF_MODE[mode];
    if (trust === undefined) throw badShape(this, url, `a known "serverCaMode" (it says ${JSON.stringify(mode.slice(0, 60))})`);
    // Every PEM block is kept: a CAS mode's field can hold a chain (refresh.go).
    const pems = [current];
    if (trust === 'per-instance-ca') {
      // Per-instance CAs rotate by adding the next CA first: listServerCas has the current, the
      // upcoming and the previous one (up to three), and a bundle of all survives the switch.
      const listUrl = `${API}${path}/listServerCas`;
      const list = await api.getJson(listUrl);
      if (!isRecord(list) || !(Array.isArray(list.certs) || list.certs === undefined)) throw badShape(this, listUrl, 'a "certs" list');
      for (const entry of (list.certs ?? []) as unknown[]) {
        const pem = sslCertPem(entry);
        if (pem === undefined) throw badShape(this, listUrl, 'a "cert" PEM on every entry of "certs"');
        if (!pems.includes(pem)) pems.push(pem);
      }
    }
    return { bytes: Buffer.from(`${pems.join('\n')}\n`), url, trust };
  },
};
