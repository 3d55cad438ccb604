import { HostMatcher } from './host-matcher.js';
import { findBacktrackingRisk } from './regex-safety.js';
import type { Cite, Provider } from './registry-types.js';

const PLACEHOLDER = /\{([a-z]+)\}/g;
const KNOWN_PLACEHOLDERS = new Set(['region']);

/** Escape a string for use inside a regular expression. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function checkCite(provider: Provider, where: string, cite: Cite, problems: string[]): void {
  let primary = false;
  for (const ref of cite.refs) {
    const reference = provider.references[ref];
    if (!reference) problems.push(`${provider.id}: ${where} cites unknown reference "${ref}"`);
    else if (reference.primary) primary = true;
  }
  if (cite.confirmed && !primary) {
    problems.push(`${provider.id}: ${where} is marked confirmed but cites no primary reference`);
  }
}

function compile(pattern: string, provider: Provider, where: string, problems: string[]): RegExp | undefined {
  // A pattern runs on every lookup (and on downloaded subjects): it must not be able to hang one.
  const risk = findBacktrackingRisk(pattern);
  if (risk !== undefined) {
    problems.push(`${provider.id}: ${where} pattern could backtrack catastrophically: ${risk}; rewrite it so each repeated part starts with a character it cannot contain`);
    return undefined;
  }
  try {
    return new RegExp(pattern);
  } catch (error) {
    problems.push(`${provider.id}: ${where} pattern does not compile: ${(error as Error).message}`);
    return undefined;
  }
}

/**
 * Check the facts a JSON Schema cannot: cross references, citations, patterns and pins.
 * Returns one line per problem; an empty array means the providers are consistent.
 */
export function checkProviders(providers: Provider[]): string[] {
  const problems: string[] = [];
  const names = new Map<string, string>();
  const claims = new Map<string, string>();

  for (const provider of providers) {
    for (const name of [provider.id, ...provider.aliases]) {
      const owner = names.get(name);
      if (owner) problems.push(`${provider.id}: id or alias "${name}" is already used by ${owner}`);
      names.set(name, provider.id);
    }

    const trustIds = new Set<string>();
    for (const trust of provider.trust) {
      const where = `trust "${trust.id}"`;
      if (trustIds.has(trust.id)) problems.push(`${provider.id}: duplicate ${where}`);
      trustIds.add(trust.id);
      checkCite(provider, where, trust.cite, problems);
      const sourceIds = new Set<string>();
      for (const source of trust.sources ?? []) {
        const swhere = `${where} source "${source.id}"`;
        if (sourceIds.has(source.id)) problems.push(`${provider.id}: duplicate ${swhere}`);
        sourceIds.add(source.id);
        checkCite(provider, swhere, source.cite, problems);
        const placeholders = [...source.url.matchAll(PLACEHOLDER)].map((m) => m[1] as string);
        for (const name of placeholders) {
          if (!KNOWN_PLACEHOLDERS.has(name)) problems.push(`${provider.id}: ${swhere} uses unknown placeholder {${name}}`);
        }
        if (placeholders.includes('region') && !source.regions?.length) {
          problems.push(`${provider.id}: ${swhere} has a {region} URL but no regions list`);
        }
        if (!placeholders.includes('region') && source.regions) {
          problems.push(`${provider.id}: ${swhere} lists regions but its URL has no {region}`);
        }
      }
      if (trust.kind === 'bundle' && trust.sources?.every((s) => s.url.includes('{'))) {
        problems.push(`${provider.id}: ${where} has no source without placeholders to fall back to`);
      }
      if (trust.unpinned === 'constraints' && !trust.constraints) {
        problems.push(`${provider.id}: ${where} accepts unpinned certificates but declares no constraints`);
      }
      if (trust.constraints) compile(trust.constraints.subject, provider, `${where} constraints`, problems);
      if (trust.intermediates) {
        compile(trust.intermediates.subject, provider, `${where} intermediates`, problems);
        checkCite(provider, `${where} intermediates`, trust.intermediates.cite, problems);
      }
      for (const step of trust.obtain ?? []) checkCite(provider, `${where} obtain step`, step.cite, problems);
      for (const entry of trust.history ?? []) checkCite(provider, `${where} history ${entry.url}`, entry.cite, problems);
      if (trust.kind === 'public') {
        const roots = provider.certificates.filter((c) => c.trust.includes(trust.id) && c.status === 'current');
        if (roots.length === 0) problems.push(`${provider.id}: public ${where} pins no current root`);
        for (const root of roots) {
          if (!root.url) problems.push(`${provider.id}: public root ${root.sha256} has no download url`);
        }
      }
    }

    const fingerprints = new Set<string>();
    for (const cert of provider.certificates) {
      const where = `certificate ${cert.sha256}`;
      if (fingerprints.has(cert.sha256)) problems.push(`${provider.id}: duplicate ${where}`);
      fingerprints.add(cert.sha256);
      checkCite(provider, where, cert.cite, problems);
      for (const id of cert.trust) {
        if (!trustIds.has(id)) problems.push(`${provider.id}: ${where} names unknown trust "${id}"`);
      }
      if (Date.parse(cert.notBefore) >= Date.parse(cert.notAfter)) {
        problems.push(`${provider.id}: ${where} notBefore is not before notAfter`);
      }
    }

    for (const [index, rule] of provider.hosts.entries()) {
      const where = `host rule ${index} (${rule.kind}, ${rule.suffix})`;
      checkCite(provider, where, rule.cite, problems);
      if (!trustIds.has(rule.trust)) problems.push(`${provider.id}: ${where} names unknown trust "${rule.trust}"`);
      const tail = `\\.${escapeRegExp(rule.suffix)}$`;
      let regex: RegExp | undefined;
      if (rule.pattern !== undefined) {
        if (!rule.pattern.endsWith(tail)) {
          problems.push(`${provider.id}: ${where} pattern must end with ${JSON.stringify(tail)} so it cannot match outside its suffix`);
        }
        regex = compile(rule.pattern, provider, where, problems);
      }
      for (const example of rule.examples) {
        if (example !== example.toLowerCase() || !example.endsWith(`.${rule.suffix}`)) {
          problems.push(`${provider.id}: ${where} example "${example}" is not a lower-case host under its suffix`);
        }
        if (regex && !regex.test(example)) problems.push(`${provider.id}: ${where} example "${example}" does not match its pattern`);
      }
      const claimKey = `${rule.suffix} ${rule.priority}`;
      const claimant = claims.get(claimKey);
      if (claimant && claimant !== provider.id) {
        problems.push(`${provider.id}: ${where} has the same suffix and priority as a rule of ${claimant}; give one a distinct priority`);
      }
      claims.set(claimKey, provider.id);
    }

    provider.notes.forEach((note, i) => checkCite(provider, `note ${i}`, note.cite, problems));
    for (const rotation of provider.rotations ?? []) {
      checkCite(provider, `rotation ${rotation.date}`, rotation.cite, problems);
      for (const id of rotation.trust) {
        if (!provider.trust.some((t) => t.id === id)) problems.push(`${provider.id}: rotation ${rotation.date} names unknown trust "${id}"`);
      }
    }
  }
  if (problems.length === 0) checkExamples(providers, problems);
  return problems;
}

/** Every example must resolve to its own rule through the real matcher: no rule is shadowed. */
function checkExamples(providers: Provider[], problems: string[]): void {
  const matcher = new HostMatcher(providers);
  for (const provider of providers) {
    provider.hosts.forEach((rule, index) => {
      for (const example of rule.examples) {
        const found = matcher.match(example);
        if (found?.rule !== rule) {
          const by = found ? `${found.provider.id} rule ${found.provider.hosts.indexOf(found.rule)} (${found.rule.kind})` : 'no rule';
          problems.push(`${provider.id}: host rule ${index} (${rule.kind}) example "${example}" is matched by ${by}; fix the example, pattern or priority`);
        }
      }
    });
  }
}
