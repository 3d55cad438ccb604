// A concurrency limit for probes: at most `max` tasks run at once, the others wait in order.
// `check` of a long host list and the exporter share it, so that every probe's timeout runs from
// its own connection, not from the moment thousands of them were started together.
import { PgcertsError } from './errors.js';

/** Runs tasks with at most {@link Limiter.max} of them in flight. */
export interface Limiter {
  readonly max: number;
  /** Tasks running now. */
  readonly active: number;
  /** Tasks waiting for a free slot. */
  readonly queued: number;
  /** Run `task` as soon as a slot is free; settles as the task does. */
  run<T>(task: () => Promise<T>): Promise<T>;
}

/**
 * A limiter of `max` concurrent tasks, started in the order they were given (first in, first out).
 * @throws PgcertsError `INVALID_INPUT` when `max` is not a whole number from 1 up.
 * @example const limit = createLimiter(32); await Promise.all(hosts.map((h) => limit.run(() => probe(h))));
 */
export function createLimiter(max: number): Limiter {
  if (!Number.isInteger(max) || max < 1) throw new PgcertsError('INVALID_INPUT', `Concurrency "${max}" is not a whole number from 1 up; give at least 1.`);
  const waiting: Array<() => void> = [];
  let active = 0;
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else active--;
  };
  return {
    max,
    get active() {
      return active;
    },
    get queued() {
      return waiting.length;
    },
    async run<T>(task: () => Promise<T>): Promise<T> {
      // A finished task hands its slot straight to the next one, so `active` never dips meanwhile.
      if (active < max) active++;
      else await new Promise<void>((resolve) => waiting.push(resolve));
      try {
        return await task();
      } finally {
        release();
      }
    },
  };
}
