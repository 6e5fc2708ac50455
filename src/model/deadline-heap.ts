// An indexed min-heap of keys by deadline: add, move or remove a key in O(log n), and take every key whose
// deadline has passed in O(log n) each. The rules use it for running queries waiting to be declared stalled:
// each query's deadline is its own (thresholds differ per query), so an insertion-ordered scan that stops
// at the first query not yet due can miss queries behind it; this cannot. Ties go by key, so the order in
// which expired keys come out depends only on the keys and deadlines, never on the history of the heap.

export class DeadlineHeap {
  private readonly keys: string[] = [];
  private readonly deadlines: number[] = [];
  private readonly index = new Map<string, number>();

  get size(): number {
    return this.keys.length;
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  /** Adds `key`, or moves it to its new deadline. */
  set(key: string, deadline: number): void {
    const i = this.index.get(key);
    if (i === undefined) {
      this.keys.push(key);
      this.deadlines.push(deadline);
      this.index.set(key, this.keys.length - 1);
      this.up(this.keys.length - 1);
      return;
    }
    const old = this.deadlines[i]!;
    this.deadlines[i] = deadline;
    if (deadline < old) this.up(i);
    else this.down(i);
  }

  delete(key: string): void {
    const i = this.index.get(key);
    if (i === undefined) return;
    const last = this.keys.length - 1;
    this.swap(i, last);
    this.keys.pop();
    this.deadlines.pop();
    this.index.delete(key);
    if (i < last) {
      this.down(i);
      this.up(i);
    }
  }

  /** Removes and returns the key with the earliest deadline if that deadline is at or before `now`. */
  popDue(now: number): string | undefined {
    if (this.keys.length === 0 || this.deadlines[0]! > now) return undefined;
    const key = this.keys[0]!;
    this.delete(key);
    return key;
  }

  clear(): void {
    this.keys.length = 0;
    this.deadlines.length = 0;
    this.index.clear();
  }

  private before(a: number, b: number): boolean {
    const da = this.deadlines[a]!;
    const db = this.deadlines[b]!;
    return da < db || (da === db && this.keys[a]! < this.keys[b]!);
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.keys.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.before(l, m)) m = l;
      if (r < n && this.before(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(a: number, b: number): void {
    if (a === b) return;
    const k = this.keys[a]!;
    const d = this.deadlines[a]!;
    this.keys[a] = this.keys[b]!;
    this.deadlines[a] = this.deadlines[b]!;
    this.keys[b] = k;
    this.deadlines[b] = d;
    this.index.set(this.keys[a]!, a);
    this.index.set(this.keys[b]!, b);
  }
}
