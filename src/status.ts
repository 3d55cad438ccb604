/** A verdict in the monitoring convention shared by `probe` and `check`. */
export type MonitoringStatus = 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';

/** Exit codes of the monitoring convention (Nagios plugins). */
export const STATUS_EXIT_CODES: Readonly<Record<MonitoringStatus, 0 | 1 | 2 | 3>> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };

// UNKNOWN outranks WARNING (the verdict is incomplete) but not CRITICAL (a failure found is
// certain even when something else could not be checked).
const RANK: Readonly<Record<MonitoringStatus, number>> = { OK: 0, WARNING: 1, UNKNOWN: 2, CRITICAL: 3 };

/** Sort key: larger is more urgent (CRITICAL > UNKNOWN > WARNING > OK). */
export function rankStatus(status: MonitoringStatus): number {
  return RANK[status];
}

/** The more urgent of two statuses. */
export function worseStatus(a: MonitoringStatus, b: MonitoringStatus): MonitoringStatus {
  return RANK[b] > RANK[a] ? b : a;
}
