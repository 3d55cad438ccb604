// YugabyteDB Aeon: the account's root CA, through Yugabyte's own CLI. `ybm cluster cert download`
// fetches "the root CA certificate for your YugabyteDB Aeon clusters" with no cluster id: one
// file for the whole account (yugabyte/ybm-cli cmd/cluster/cert/cert.go; the client call takes no
// parameters). The REST path behind it is not documented, so pgcerts runs ybm itself when it is
// installed and leaves the API key to ybm (YBM_APIKEY or its config file), never reading it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgcertsError } from '../errors.js';
import type { AccountProvider, AccountResource, FetchedCa, ResourceSearch } from './provider.js';
import { findOnPath, runTool } from './tools.js';

const YBM_TIMEOUT_MS = 60_000;
const COMMAND = 'ybm cluster cert download';

/** The ybm executable on PATH, or `undefined`. */
function findYbm(env: NodeJS.ProcessEnv): string | undefined {
  return findOnPath([process.platform === 'win32' ? 'ybm.exe' : 'ybm'], env);
}

/** YugabyteDB Aeon through `ybm`. */
export const yugabyte: AccountProvider = {
  id: 'yugabyte',
  name: 'YugabyteDB Aeon',
  apiOrigin: 'https://cloud.yugabyte.com',
  tokenVariables: ['YBM_APIKEY'],
  tokenHelp: 'the ybm CLI installed and signed in (`ybm auth`, or YBM_APIKEY set to an Aeon API key)',
  authorization: () => '',
  via: "Yugabyte's `ybm` CLI",
  credentialHint: 'install ybm and sign it in: ybm auth, or YBM_APIKEY',
  async getCredential(context) {
    const ybm = findYbm(context.env);
    if (!ybm) return undefined;
    // The "token" is the path of ybm: pgcerts never holds the API key, which stays with ybm.
    return { variable: 'ybm', token: ybm, label: `through \`${COMMAND}\` (${ybm}, with its own API key)`, renew: 'sign ybm in again (`ybm auth`, or a current YBM_APIKEY)' };
  },
  describeCredential(env) {
    const ybm = findYbm(env);
    return ybm ? { variable: 'ybm', label: `through \`${COMMAND}\` (${ybm})` } : undefined;
  },

  async findResource(): Promise<ResourceSearch> {
    // One root for every cluster of the account: nothing to look up.
    return { resource: { id: 'account', kind: 'account root' }, searched: 'the account' };
  },

  async fetchCa(_resource: AccountResource, _api, context): Promise<FetchedCa> {
    const ybm = context?.credential.token;
    const env = context?.env;
    if (!ybm) throw new PgcertsError('NO_SOURCE', `\`${COMMAND}\` needs ybm on PATH; install it, or download the CA in the Aeon console and \`pgcerts import yugabyte <file> --host <host>\`.`);
    const dir = mkdtempSync(join(tmpdir(), 'pgcerts-ybm-'));
    const out = join(dir, 'root.crt');
    try {
      const run = await runTool(ybm, ['cluster', 'cert', 'download', '--out', out, '--force'], { env: env ?? {}, timeoutMs: YBM_TIMEOUT_MS, maxBuffer: 256 * 1024, secretVariables: ['YBM_APIKEY'] });
      const failure = run.ok ? undefined : run.failure;
      if (failure !== undefined) {
        throw new PgcertsError('AUTH_FAILED', `\`${COMMAND}\` gave no certificate (${failure}). Sign ybm in (\`ybm auth\`, or set YBM_APIKEY to an Aeon API key), or download the CA in the Aeon console and \`pgcerts import yugabyte <file> --host <host>\`.`);
      }
      let bytes: Buffer;
      try {
        bytes = readFileSync(out);
      } catch {
        throw new PgcertsError('DECODE_FAILED', `\`${COMMAND}\` finished but wrote no file; update ybm, or download the CA in the Aeon console and \`pgcerts import yugabyte <file> --host <host>\`.`);
      }
      return { bytes, url: COMMAND };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
