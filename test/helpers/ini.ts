// pgbouncer.ini as PgBouncer reads it, enough for assertions: [section] headers, key = value
// lines (the value runs to the end of the line), ; and # comment lines. PgBouncer itself reads
// the same text in e2e-pgbouncer.test.ts.
export function parse(text: string): Record<string, Record<string, string>> {
  const sections: Record<string, Record<string, string>> = {};
  let current: Record<string, string> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      current = sections[header[1] as string] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 0) throw new Error(`not an ini line: ${JSON.stringify(raw)}`);
    current[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return sections;
}
