// The one interface every account provider implements: find the resource that serves a host,
// then fetch that resource's CA through the provider's own API.

/** A token found in the environment. `token` is a secret: never print, log or store it. */
export interface AccountCredential {
  /** The environment variable it came from, e.g. `DIGITALOCEAN_ACCESS_TOKEN`. */
  variable: string;
  token: string;
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
  /** The `Authorization` header value for a token. */
  authorization(token: string): string;
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
  fetchCa(resource: AccountResource, api: AccountApi): Promise<{ bytes: Buffer; url: string }>;
}
