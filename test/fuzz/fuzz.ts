/**
 * Shared pieces of the property-based fuzz tests (fast-check): the run budget, byte
 * mutations of valid inputs, and the checks every parser must pass on every input (it
 * returns, or throws our typed InputError pointing at the input; within a time bound).
 *
 * Budget: NOISEFLOOR_FUZZ_RUNS runs per property (default 150, the short budget of
 * `npm test`; `npm run fuzz` uses 5000). The short budget runs with a fixed seed, so
 * `npm test` is reproducible; a budget set explicitly draws a new seed every run (printed
 * with any failure). NOISEFLOOR_FUZZ_SEED replays a seed.
 */
import fc from 'fast-check';
import { InputError } from '../../src/util/errors.js';

export const FUZZ_RUNS = Number(process.env.NOISEFLOOR_FUZZ_RUNS ?? 150);
const FIXED_SEED = 20261203;
const SEED =
  process.env.NOISEFLOOR_FUZZ_SEED !== undefined
    ? Number(process.env.NOISEFLOOR_FUZZ_SEED)
    : process.env.NOISEFLOOR_FUZZ_RUNS === undefined
      ? FIXED_SEED
      : undefined;

/** Longest one input may take (a hang detector, not a speed test: generous for a loaded machine). */
export const PER_INPUT_MS = 5_000;

export function fuzzParams(runs = FUZZ_RUNS): fc.Parameters<unknown> {
  return { numRuns: runs, ...(SEED === undefined ? {} : { seed: SEED }), endOnFailure: true };
}

/** One edit of a byte string. */
export type Edit =
  | { op: 'set'; at: number; byte: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; len: number }
  | { op: 'duplicate'; at: number; len: number }
  | { op: 'truncate'; at: number };

export const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);

/** Applies edits in order; positions wrap around the current length. */
export function mutate(input: Uint8Array, edits: readonly Edit[]): Buffer {
  let b = Buffer.from(input);
  for (const e of edits) {
    const n = b.length;
    const at = n === 0 ? 0 : e.at % (n + 1);
    switch (e.op) {
      case 'set':
        if (n > 0) b[at % n] = e.byte;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), e.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.len)]);
        break;
      case 'duplicate':
        b = Buffer.concat([b.subarray(0, at + e.len), b.subarray(at, at + e.len), b.subarray(at + e.len)]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
    }
  }
  return b;
}

/** Valid inputs as they are, with up to 6 edits, random bytes, or random text. */
export function bytesLike(seeds: readonly Uint8Array[], maxRandom = 512): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom(...seeds).map((s) => Buffer.from(s)) },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...seeds), fc.array(editArb, { maxLength: 6 })).map(([s, e]) => mutate(s, e)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: maxRandom }).map((u) => Buffer.from(u)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: maxRandom }).map((s) => Buffer.from(s, 'utf8')) },
  );
}

/**
 * Runs `parse`; it must return, or throw an InputError whose location passes `located`.
 * Anything else (TypeError, RangeError, a plain Error) is a crash and fails the property.
 */
export async function expectTypedOutcome<T>(
  parse: () => T | Promise<T>,
  located: (e: InputError) => boolean,
): Promise<{ ok: true; value: T } | { ok: false; error: InputError }> {
  const t0 = performance.now();
  let out: { ok: true; value: T } | { ok: false; error: InputError };
  try {
    out = { ok: true, value: await parse() };
  } catch (e) {
    if (!(e instanceof InputError)) throw new Error(`crash: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`, { cause: e });
    if (!located(e)) throw new Error(`InputError without its location: ${e.message} ${JSON.stringify(e.location)}`);
    out = { ok: false, error: e };
  }
  const ms = performance.now() - t0;
  if (ms > PER_INPUT_MS) throw new Error(`one input took ${ms.toFixed(0)} ms (bound ${PER_INPUT_MS} ms)`);
  return out;
}
