// Binary min-heap of candidate merges (left symbol, right symbol, merged length) ordered by
// (priority, left): the work queue of llama.cpp's SPM and BPE sessions, on typed arrays so a
// whole-file SPM encode (~1M symbols) does not allocate one object per candidate.

export class PairHeap {
  private pri = new Float64Array(64);
  private left = new Int32Array(64);
  private right = new Int32Array(64);
  private size = new Int32Array(64);
  length = 0;

  clear(): void { this.length = 0; }

  private less(a: number, b: number): boolean {
    return this.pri[a]! < this.pri[b]! || (this.pri[a] === this.pri[b] && this.left[a]! < this.left[b]!);
  }

  private swap(a: number, b: number): void {
    const p = this.pri[a]!; this.pri[a] = this.pri[b]!; this.pri[b] = p;
    const l = this.left[a]!; this.left[a] = this.left[b]!; this.left[b] = l;
    const r = this.right[a]!; this.right[a] = this.right[b]!; this.right[b] = r;
    const s = this.size[a]!; this.size[a] = this.size[b]!; this.size[b] = s;
  }

  private grow(): void {
    const n = this.pri.length * 2;
    const pri = new Float64Array(n); pri.set(this.pri); this.pri = pri;
    const left = new Int32Array(n); left.set(this.left); this.left = left;
    const right = new Int32Array(n); right.set(this.right); this.right = right;
    const size = new Int32Array(n); size.set(this.size); this.size = size;
  }

  push(priority: number, left: number, right: number, size: number): void {
    if (this.length === this.pri.length) this.grow();
    let i = this.length++;
    this.pri[i] = priority; this.left[i] = left; this.right[i] = right; this.size[i] = size;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Removes the top entry; read it first with topLeft/topRight/topSize. */
  pop(): void {
    const last = --this.length;
    if (last === 0) return;
    this.swap(0, last);
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < last && this.less(l, m)) m = l;
      if (r < last && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }

  get topLeft(): number { return this.left[0]!; }
  get topRight(): number { return this.right[0]!; }
  get topSize(): number { return this.size[0]!; }
}
