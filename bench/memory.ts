/**
 * Cost of the window memory (the empirical denoiser, src/scoring/memory.ts) per scored
 * window, at the sizes `evaluate` uses: memory of N windows of D values (channels x window
 * length), three noise levels.
 *
 *   npm run bench:memory
 *
 * Prints, per (N, D): microseconds per `score`, windows per second on one core, FLOPs per
 * window, bytes held, and the same for a fifo insert.
 */
import { WindowMemory } from '../src/scoring/memory.js';
import { Rng } from '../src/util/rng.js';

const rng = new Rng(1);
const windows = (n: number, d: number) => Array.from({ length: n }, () => rng.fillNormal(new Float32Array(d)));

console.log('| memory N | D (C x W) | us per score | windows/s (one core) | kFLOP per window | KiB held | us per fifo insert |');
console.log('|---|---|---|---|---|---|---|');
for (const [n, d] of [
  [720, 32],
  [1000, 32],
  [1000, 64],
  [1000, 8 * 32],
  [4000, 64],
]) {
  const memory = WindowMemory.fit(windows(n, d), Array.from({ length: n }, (_, i) => i), { capacity: n, replacement: 'fifo' });
  const probes = windows(512, d);
  let sink = 0;
  for (let i = 0; i < 200; i++) sink += memory.score(probes[i % probes.length]);
  const reps = Math.max(500, Math.round(2e8 / (n * d)));
  let t = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) sink += memory.score(probes[i % probes.length]);
  const perScore = Number(process.hrtime.bigint() - t) / 1e3 / reps;
  t = process.hrtime.bigint();
  for (let i = 0; i < 20_000; i++) memory.insert(probes[i % probes.length], n + i);
  const perInsert = Number(process.hrtime.bigint() - t) / 1e3 / 20_000;
  console.log(
    `| ${n} | ${d} | ${perScore.toFixed(1)} | ${Math.round(1e6 / perScore)} | ${(memory.flopsPerScore / 1000).toFixed(1)} | ${(memory.bytes / 1024).toFixed(0)} | ${perInsert.toFixed(2)} |`,
  );
  if (!Number.isFinite(sink)) console.error('non-finite score');
}
