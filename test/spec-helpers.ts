// Statistics shared by the speculative-decoding tests: a chi-square goodness-of-fit p-value.

/** Standard normal upper tail, via erfc (Numerical Recipes' erfcc, |error| < 1.2e-7). */
function normalUpper(z: number): number {
  const x = z / Math.SQRT2, t = 1 / (1 + 0.5 * Math.abs(x));
  const r = t * Math.exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return (x >= 0 ? r : 2 - r) / 2;
}

/**
 * Chi-square of observed counts against expected probabilities (bins expected under 5 draws are
 * pooled into one), with its p-value by the Wilson-Hilferty cube-root approximation.
 */
export function chiSquare(counts: Map<number, number>, expected: Map<number, number>, n: number): { chi: number; df: number; p: number } {
  let chi = 0, bins = 0, poolE = 0, poolO = 0;
  for (const [id, p] of expected) {
    const e = p * n, o = counts.get(id) ?? 0;
    if (e < 5) { poolE += e; poolO += o; continue; }
    chi += (o - e) ** 2 / e;
    bins++;
  }
  // Draws of tokens the expected distribution does not have at all go to the pool too.
  for (const [id, o] of counts) if (!expected.has(id)) poolO += o;
  if (poolE > 0 || poolO > 0) { chi += (poolO - poolE) ** 2 / Math.max(poolE, 1e-9); bins++; }
  const df = Math.max(1, bins - 1);
  const z = (Math.cbrt(chi / df) - (1 - 2 / (9 * df))) / Math.sqrt(2 / (9 * df));
  return { chi, df, p: normalUpper(z) };
}
