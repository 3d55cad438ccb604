// Crunchy Bridge: list the teams the API key can see, page through each team's clusters to find
// the one (or the replica) with the host, then fetch the team's certificate, which every cluster of
// the team uses. Calls and shapes follow Crunchy's API docs (docs.crunchybridge.com, "Getting
// started" and "Certificate") and the official `cb` CLI (CrunchyData/bridge-cli: src/client/
// cluster.cr for the cluster list and its cursor, src/client/team.cr for the teams and the .pem call).
// Note: `cb psql` itself connects with sslmode=verify-ca and the team file (src/cb/psql.cr); that
// the server certificate carries the p.<id>.db.postgresbridge.com name verify-full checks is
// unconfirmed. The registry entry decides the sslmode; this file only fetches the CA.
import { PgcertsError } from '../errors.js';
import { badShape, isRecord } from './api.js';
import type { AccountApi, AccountProvider, AccountResource, ResourceSearch } from './provider.js';

const API = 'https://api.crunchybridge.com';
/** A bound on the cluster pages of one team, so an answer that never ends cannot keep pgcerts busy. */
const MAX_PAGES = 100;

/** The host of a cluster and the hosts of its nested replicas, lower case. */
function hostsOf(cluster: Record<string, unknown>): string[] {
  const hosts: string[] = [];
  if (typeof cluster.host === 'string') hosts.push(cluster.host);
  if (Array.isArray(cluster.replicas)) {
    for (const replica of cluster.replicas) if (isRecord(replica) && typeof replica.host === 'string') hosts.push(replica.host);
  }
  return hosts.map((h) => h.toLowerCase());
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Crunchy Bridge's API (`GET /teams`, `/clusters?team_id=...`, `/teams/{team_id}.pem`). */
export const crunchyBridge: AccountProvider = {
  id: 'crunchy-bridge',
  name: 'Crunchy Bridge',
  apiOrigin: API,
  // The cb CLI reads CB_API_KEY (src/cb/creds.cr); Crunchy's API docs export CRUNCHY_API_KEY in their examples.
  tokenVariables: ['CB_API_KEY', 'CRUNCHY_API_KEY'],
  tokenHelp: 'a Crunchy Bridge API key, cbkey_..., of a member of the cluster\'s team',
  // The docs: an API key is sent as a Bearer token in the Authorization header.
  authorization: (token) => `Bearer ${token}`,

  async findResource(host: string, api: AccountApi): Promise<ResourceSearch> {
    const teamsUrl = `${API}/teams`;
    const answer = await api.getJson(teamsUrl);
    // The research note names the call but not its answer; the cb CLI reads the list under a
    // "teams" key, each team with an "id" and a "name". Anything else is refused.
    if (!isRecord(answer) || !Array.isArray(answer.teams)) throw badShape(this, teamsUrl, 'a "teams" list');
    const teams = answer.teams.map((team: unknown) => {
      if (!isRecord(team) || typeof team.id !== 'string' || team.id === '') throw badShape(this, teamsUrl, 'an "id" on every team');
      return { id: team.id, name: typeof team.name === 'string' && team.name !== '' ? team.name : undefined };
    });
    let clusters = 0;
    for (const team of teams) {
      // The list is ordered by name and continues with `cursor=<next_cursor>` while `has_more` is
      // true. The cursor is only ever placed in a URL pgcerts builds on the API origin, so whatever
      // it holds, the key goes nowhere else.
      const first = `${API}/clusters?team_id=${encodeURIComponent(team.id)}&order_field=name`;
      const seen = new Set<string>();
      let url: string | undefined = first;
      for (let page = 1; url !== undefined; page++) {
        if (page > MAX_PAGES) throw new PgcertsError('DECODE_FAILED', `The Crunchy Bridge API listed more than ${MAX_PAGES} pages of clusters for team ${team.id}; pgcerts stopped. Import the CA instead: \`pgcerts import crunchy-bridge <file> --host ${host}\`.`);
        const list = await api.getJson(url);
        if (!isRecord(list) || !Array.isArray(list.clusters)) throw badShape(this, url, 'a "clusters" list');
        for (const cluster of list.clusters) {
          if (!isRecord(cluster)) throw badShape(this, url, 'an object for every cluster');
          clusters++;
          if (hostsOf(cluster).includes(host)) {
            const resource: AccountResource = { id: team.id, kind: 'team', name: team.name };
            return { resource, searched: '' };
          }
        }
        if (list.has_more !== true) break;
        const cursor = list.next_cursor;
        if (typeof cursor !== 'string' || cursor === '') throw badShape(this, url, 'a "next_cursor" where "has_more" is true');
        if (seen.has(cursor)) throw new PgcertsError('DECODE_FAILED', `The Crunchy Bridge API gave the same "next_cursor" twice for team ${team.id}; pgcerts stopped. Try again later, or import the CA: \`pgcerts import crunchy-bridge <file> --host ${host}\`.`);
        seen.add(cursor);
        url = `${first}&cursor=${encodeURIComponent(cursor)}`;
      }
    }
    return { resource: undefined, searched: `${plural(clusters, 'cluster')} in ${plural(teams.length, 'team')}` };
  },

  async fetchCa(resource: AccountResource, api: AccountApi): Promise<{ bytes: Buffer; url: string }> {
    // The certificate call answers with the PEM chain itself (application/pem-certificate-chain),
    // not JSON. It is fetched with the key, as `cb teamcert <team id>` does.
    const url = `${API}/teams/${encodeURIComponent(resource.id)}.pem`;
    return { bytes: await api.getBytes(url), url };
  },
};
