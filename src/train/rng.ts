// Seeded xorshift128 RNG for initialization and batch sampling. Its state is four uint32 words,
// saved in checkpoints so a resumed run draws the same batches as an uninterrupted one. Not the
// sampler's generator (runtime/sampler.ts, xoshiro128**), which generation seeds must keep.

export class Xorshift128 {
  private s: Uint32Array;
  constructor(seed: number | number[]) {
    if (Array.isArray(seed)) this.s = Uint32Array.from(seed);
    else {
      // splitmix32 to spread a small seed over the state
      this.s = new Uint32Array(4);
      let z = seed >>> 0;
      for (let i = 0; i < 4; i++) {
        z = (z + 0x9e3779b9) >>> 0;
        let x = z;
        x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
        x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
        this.s[i] = (x ^ (x >>> 16)) >>> 0 || 1;
      }
    }
  }
  state(): number[] {
    return [...this.s];
  }
  u32(): number {
    const s = this.s;
    let t = s[3]!;
    const x = s[0]!;
    s[3] = s[2]!; s[2] = s[1]!; s[1] = x;
    t ^= t << 11; t ^= t >>> 8;
    s[0] = (t ^ x ^ (x >>> 19)) >>> 0;
    return s[0]!;
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    return this.u32() / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
  normal(): number {
    const u = 1 - this.uniform(), v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
