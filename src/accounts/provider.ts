// The one interface every account provider implements: find the resource that serves a host,
// then fetch that resource's CA through the provider's own API.

/** A token found in the environment. `token` is a secret: never print, log or store it. */
export interface AccountCredential {
  /** The environment variable it came from, e.g. `DIGITALOCEAN_ACCESS_TOKEN`, or the tool (`gcloud`). */
  variable: string;
  token: string;
  /** Where it came from, for a sentence ("the token ..."); default `in <variable>`. */
  label?: string;
  /** How to get a working one from the same place, as a clause; default: set the variable to a new token. */
  renew?: string;
}

/** The provider resource whose CA serves a host (a cluster, a project). */
export interface AccountResource {
  /** The provider's id of the resource the CA call takes (a cluster uuid, a project name). */
  id: string;
  /** What kind of resource `id` names, e.g. `database cluster`, `project`. */
  kind: string;
  /** The project the resource belongs to, where the provider has projects. */
  project?: string;
  /** A human name (cluster or service name), when the API gives one. */
  name?: string;
  /** The provider's region of the resource, where it has one (Cloud SQL). */
  region?: string;
}

/** The outcome of {@link AccountProvider.findResource}. */
export interface ResourceSearch {
  /** The resource serving the host, or `undefined` when none of the account's resources has it. */
  resource: AccountResource | undefined;
  /** How many resources were searched, e.g. `3 database clusters`, for the not-found message. */
  searched: string;
}

/** Authenticated calls to one provider's API (JSON, or raw bytes); the token never appears in a URL. */
export interface AccountApi {
  /**
   * GET a URL on the provider's API origin and parse the JSON answer.
   * @throws PgcertsError `AUTH_FAILED` (401, 403), `DOWNLOAD_FAILED`, `DECODE_FAILED` (not JSON).
   */
  getJson(url: string): Promise<unknown>;
  /** Like {@link getJson}, but a 404 answer returns `undefined`. */
  findJson(url: string): Promise<unknown>;
  /** POST a JSON body to a URL on the API origin and parse the JSON answer (AlloyDB's generateClientCertificate). */
  postJson(url: string, body: unknown): Promise<unknown>;
  /**
   * GET a URL on the provider's API origin and return the body unparsed, for calls that answer
   * with a PEM file instead of JSON. The same origin check applies; with `anonymous`, no
   * `Authorization` header is sent (for downloads the provider serves without a token).
   * @throws PgcertsError `AUTH_FAILED` (401, 403 to a call with the token), `DOWNLOAD_FAILED`.
   */
  getBytes(url: string, options?: { anonymous?: boolean }): Promise<Buffer>;
}

/** One provider's API, as pgcerts uses it to fetch account CAs. */
export interface AccountProvider {
  /** The registry provider id, e.g. `digitalocean`. */
  readonly id: string;
  /** The provider's name in messages, e.g. `DigitalOcean`. */
  readonly name: string;
  /** `https://api.example.com`: the only origin the token is sent to (or the mirror of it). */
  readonly apiOrigin: string;
  /** The variables read for a token, in order of preference. */
  readonly tokenVariables: readonly string[];
  /** How to make a token with read access, as a clause for messages. */
  readonly tokenHelp: string;
  /** The header value that carries a token (`Bearer ...`, or the key itself). */
  authorization(token: string): string;
  /** The header it goes in, lower case: `authorization` unless the API wants another (Scaleway: `x-auth-token`). */
  readonly authHeader?: string;
  /**
   * Find the resource that serves `host` (normalised, lower case).
   * @throws PgcertsError from {@link AccountApi}, or `DECODE_FAILED` for answers of the wrong shape.
   */
  findResource(host: string, api: AccountApi): Promise<ResourceSearch>;
  /**
   * Fetch the CA of a resource: the certificate bytes as the API delivers them (decoded from
   * base64 where the API wraps them), and the URL they came from.
   * @throws PgcertsError from {@link AccountApi}, or `DECODE_FAILED` for answers of the wrong shape.
   */
  fetchCa(resource: AccountResource, api: AccountApi, context?: { credential: AccountCredential; env: NodeJS.ProcessEnv }): Promise<FetchedCa>;
  /**
   * Providers whose token does not come from one variable (Google: gcloud, credential files):
   * find a token, running the provider's CLI or exchanging a stored credential when needed.
   * Without it, the first of {@link tokenVariables} that is set is the token.
   */
  getCredential?(context: CredentialContext): Promise<AccountCredential | undefined>;
  /** How pgcerts reaches it, for docs: default `the <name> API`. */
  readonly via?: string;
  /** For `pgcerts credentials` when nothing is found: what to do, short (default: set the token variables). */
  readonly credentialHint?: string;
  /** What {@link getCredential} would use, without running or sending anything. */
  describeCredential?(env: NodeJS.ProcessEnv, homeDir?: string): { variable: string; label: string } | undefined;
  /**
   * A flag that names a resource directly (`--instance PROJECT:REGION:INSTANCE`), for hosts the
   * API cannot search for (IP addresses).
   */
  readonly resourceFlag?: {
    /** `--instance`. */
    flag: string;
    /** What the value looks like, for messages: `PROJECT:REGION:INSTANCE`. */
    shape: string;
    /** @throws PgcertsError `INVALID_INPUT` naming the value. */
    parse(value: string): AccountResource;
  };
}

/** The outcome of {@link AccountProvider.fetchCa}. */
export interface FetchedCa {
  /** The certificate bytes, decoded from base64 where the API wraps them. */
  bytes: Buffer;
  /** The URL of the answer that held them. */
  url: string;
  /** The registry trust entry the answer shows the resource uses (Cloud SQL's CA mode), when the API says. */
  trust?: string;
}

/** What {@link AccountProvider.getCredential} needs besides the environment. */
export interface CredentialContext {
  env: NodeJS.ProcessEnv;
  homeDir?: string;
  mirror?: string;
  download?: Omit<import('../download.js').DownloadOptions, 'mirror' | 'headers' | 'form'>;
  /** Seconds since the epoch, for signed assertions (default: the clock). */
  nowSeconds?: () => number;
  /** The OAuth scope a service account asks for (Google); the provider's own when absent. */
  scope?: string;
}
