/**
 * DDPM noise schedule. Step t in [0, T) has cumulative signal fraction alphaBar[t];
 * x_t = sqrt(alphaBar[t]) x_0 + sqrt(1 - alphaBar[t]) eps.
 */
export interface NoiseSchedule {
  kind: 'cosine' | 'linear';
  T: number;
  alphaBar: number[];
}

/** Cosine schedule of Nichol & Dhariwal (2021), betas clipped at 0.999 as they do. */
export function cosineSchedule(T: number, s = 0.008): NoiseSchedule {
  const f = (t: number) => Math.cos(((t / T + s) / (1 + s)) * (Math.PI / 2)) ** 2;
  const alphaBar: number[] = [];
  let prod = 1;
  for (let t = 0; t < T; t++) {
    const beta = Math.min(1 - f(t + 1) / f(t), 0.999);
    prod *= 1 - beta;
    alphaBar.push(prod);
  }
  return { kind: 'cosine', T, alphaBar };
}

export function linearSchedule(T: number, beta1 = 1e-4, betaT = 0.02): NoiseSchedule {
  const alphaBar: number[] = [];
  let prod = 1;
  for (let t = 0; t < T; t++) {
    prod *= 1 - (beta1 + ((betaT - beta1) * t) / Math.max(1, T - 1));
    alphaBar.push(prod);
  }
  return { kind: 'linear', T, alphaBar };
}

export function makeSchedule(kind: 'cosine' | 'linear', T: number): NoiseSchedule {
  return kind === 'cosine' ? cosineSchedule(T) : linearSchedule(T);
}

/**
 * The K timesteps of a DDIM chain from t0 down towards 0, evenly spaced, strictly
 * decreasing, first element t0.
 */
export function ddimTimesteps(t0: number, steps: number): number[] {
  const k = Math.max(1, Math.min(steps, t0));
  const out: number[] = [];
  for (let i = 0; i < k; i++) out.push(Math.round(t0 - (i * t0) / k));
  return [...new Set(out)];
}
