/**
 * A small bounded map that forgets the least recently used entry, approximately: a read moves
 * an entry to the newest end only when half the capacity or more has been inserted or moved
 * since it was last placed there. So an entry read at least once per `max / 2` insertions is
 * never evicted, and a hot entry is not moved (a Map delete and insert) on every read — the
 * entity cache reads several entries per decision.
 */
export class Lru<K, V> {
  readonly #max: number;
  readonly #map = new Map<K, { value: V; placedAt: number }>();
  /** Counts placements (insertions and moves to the newest end). */
  #clock = 0;

  constructor(max: number) {
    this.#max = max;
  }

  get(key: K): V | undefined {
    const entry = this.#map.get(key);
    if (entry === undefined) return undefined;
    // Fewer than max / 2 placed after it: at least max / 2 more insertions before it could be
    // evicted, so leave it where it is.
    if (this.#clock - entry.placedAt >= this.#max / 2) {
      this.#map.delete(key);
      this.#map.set(key, entry);
      entry.placedAt = ++this.#clock;
    }
    return entry.value;
  }

  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, { value, placedAt: ++this.#clock });
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value as K);
  }

  delete(key: K): void {
    this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }

  get size(): number {
    return this.#map.size;
  }
}
