import { isPgcertsError } from '../../src/errors.js';

/** The code and message a promise rejects with; fails when it resolves or throws something else. */
export async function rejection(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isPgcertsError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a rejection');
}
