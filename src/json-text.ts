/**
 * One JSON document as pgcerts prints it: two-space indent, a final newline, and every absent
 * value (`undefined`) written as `null`, so a key of a result type is always there.
 */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, (_key, v: unknown) => (v === undefined ? null : v), 2)}\n`;
}
