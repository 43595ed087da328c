/**
 * Sets `key` in a map kept in an isolate's memory, holding at most `max` entries: when full, the oldest half goes,
 * so a flood of new keys cannot grow it and the entries set last stay.
 */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  if (!map.has(key) && map.size >= max) {
    let drop = Math.ceil(max / 2);
    for (const old of map.keys()) {
      if (drop-- === 0) break;
      map.delete(old);
    }
  }
  map.set(key, value);
}
