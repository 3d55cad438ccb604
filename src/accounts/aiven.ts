// Aiven: list the projects the token can see, find the service with the host, fetch the project's
// CA. Request and response shapes follow Aiven's own clients (aiven/aiven-client, client.py;
// aiven/go-client-codegen, handler/project and handler/service).
import { PgcertsError } from '../errors.js';
import { quoteInput } from '../redact.js';
import { badShape, isRecord } from './api.js';
import type { AccountApi, AccountProvider, AccountResource, ResourceSearch } from './provider.js';

const API = 'https://api.aiven.io';

/** Every host name a service answers on: its components, `service_uri_params.host` and the host of `service_uri`. */
function hostsOf(service: Record<string, unknown>): string[] {
  const hosts: string[] = [];
  if (Array.isArray(service.components)) {
    for (const component of service.components) if (isRecord(component) && typeof component.host === 'string') hosts.push(component.host);
  }
  if (isRecord(service.service_uri_params) && typeof service.service_uri_params.host === 'string') hosts.push(service.service_uri_params.host);
  if (typeof service.service_uri === 'string') {
    // The URI carries the password: only its host is read, and nothing of it is ever printed.
    try {
      hosts.push(new URL(service.service_uri).hostname);
    } catch {
      // Not a URL: the components still name the hosts.
    }
  }
  return hosts.map((h) => h.toLowerCase());
}

/** Aiven's API (`GET /v1/project`, `/v1/project/{p}/service`, `/v1/project/{p}/kms/ca`). */
export const aiven: AccountProvider = {
  id: 'aiven',
  name: 'Aiven',
  apiOrigin: API,
  // avn reads AIVEN_AUTH_TOKEN (aiven-client envdefault.py); the Go client and Terraform provider read AIVEN_TOKEN.
  tokenVariables: ['AIVEN_AUTH_TOKEN', 'AIVEN_TOKEN'],
  tokenHelp: 'a personal token from `avn user access-token create` or the console, User information, Tokens',
  // Both official clients send this scheme (aiven-client client.py, go-client-codegen client.go).
  authorization: (token) => `aivenv1 ${token}`,
  // The CA belongs to the project: naming it serves hosts the API cannot be searched for (a CNAME).
  resourceFlag: {
    flag: '--project',
    shape: 'PROJECT',
    parse(value: string): AccountResource {
      const project = value.trim();
      if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(project)) throw new PgcertsError('INVALID_INPUT', `--project ${quoteInput(value)} is not an Aiven project name; give the name \`avn project list\` shows.`);
      return { id: project, kind: 'project', project };
    },
  },

  async findResource(host: string, api: AccountApi): Promise<ResourceSearch> {
    const projectsUrl = `${API}/v1/project`;
    const answer = await api.getJson(projectsUrl);
    if (!isRecord(answer) || !Array.isArray(answer.projects)) throw badShape(this, projectsUrl, 'a "projects" list');
    const projects = answer.projects.map((p: unknown) => {
      if (!isRecord(p) || typeof p.project_name !== 'string' || p.project_name === '') throw badShape(this, projectsUrl, 'a "project_name" on every project');
      return p.project_name;
    });
    let services = 0;
    for (const project of projects) {
      const servicesUrl = `${API}/v1/project/${encodeURIComponent(project)}/service`;
      const list = await api.getJson(servicesUrl);
      if (!isRecord(list) || !Array.isArray(list.services)) throw badShape(this, servicesUrl, 'a "services" list');
      for (const service of list.services) {
        if (!isRecord(service)) continue;
        services++;
        if (hostsOf(service).includes(host)) {
          const resource: AccountResource = { id: project, kind: 'project', project, name: typeof service.service_name === 'string' ? service.service_name : undefined };
          return { resource, searched: '' };
        }
      }
    }
    const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
    return { resource: undefined, searched: `${plural(services, 'service')} in ${plural(projects.length, 'project')}` };
  },

  async fetchCa(resource: AccountResource, api: AccountApi): Promise<{ bytes: Buffer; url: string }> {
    const url = `${API}/v1/project/${encodeURIComponent(resource.id)}/kms/ca`;
    const answer = await api.getJson(url);
    // handler/project/project.go: "PEM encoded certificate".
    if (!isRecord(answer) || typeof answer.certificate !== 'string') throw badShape(this, url, 'a "certificate" string');
    return { bytes: Buffer.from(answer.certificate, 'utf8'), url };
  },
};
