// Binary min-heap of candidate merges (left symbol, right symbol, merged length) ordered by
// (priority, left): the work queue of llama.cpp's SPM and BPE sessions. Entries live in a pool of
// typed arrays and the heap orders pool slots, so sifting moves one int per level and a whole-file
// SPM encode (~1M symbols) allocates no object per candidate.

export class PairHeap {
  private pri = new Float64Array(64);
  private left = new Int32Array(64);
  private right = new Int32Array(64);
  private size = new Int32Array(64);
  private heap = new Int32Array(64); // pool slots in heap order
  private free: number[] = [];
  private used = 0; // pool slots ever handed out
  length = 0;

  clear(): void { this.length = 0; this.used = 0; this.free.length = 0; }

  private grow(): void {
    const n = this.pri.length * 2;
    const pri = new Float64Array(n); pri.set(this.pri); this.pri = pri;
    const left = new Int32Array(n); left.set(this.left); this.left = left;
    const right = new Int32Array(n); right.set(this.right); this.right = right;
    const size = new Int32Array(n); size.set(this.size); this.size = size;
    const heap = new Int32Array(n); heap.set(this.heap); this.heap = heap;
  }

  push(priority: number, left: number, right: number, size: number): void {
    let slot = this.free.pop();
    if (slot === undefined) {
      if (this.used === this.pri.length) this.grow();
      slot = this.used++;
    }
    this.pri[slot] = priority; this.left[slot] = left; this.right[slot] = right; this.size[slot] = size;
    const h = this.heap, pri = this.pri, lft = this.left;
    let i = this.length++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const ps = h[parent]!;
      if (pri[ps]! < priority || (pri[ps] === priority && lft[ps]! <= left)) break;
      h[i] = ps;
      i = parent;
    }
    h[i] = slot;
  }

  /** Removes the top entry; read it first with topLeft/topRight/topSize. */
  pop(): void {
    const h = this.heap, pri = this.pri, lft = this.left;
    this.free.push(h[0]!);
    const n = --this.length;
    if (n === 0) return;
    const moving = h[n]!;
    const mp = pri[moving]!, ml = lft[moving]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      let cs = h[c]!;
      if (c + 1 < n) {
        const ds = h[c + 1]!;
        if (pri[ds]! < pri[cs]! || (pri[ds] === pri[cs] && lft[ds]! < lft[cs]!)) { c++; cs = ds; }
      }
      if (mp < pri[cs]! || (mp === pri[cs] && ml <= lft[cs]!)) break;
      h[i] = cs;
      i = c;
    }
    h[i] = moving;
  }

  get topLeft(): number { return this.left[this.heap[0]!]!; }
  get topRight(): number { return this.right[this.heap[0]!]!; }
  get topSize(): number { return this.size[this.heap[0]!]!; }
}
