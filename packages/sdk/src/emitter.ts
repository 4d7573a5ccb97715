// biome-ignore lint/suspicious/noExplicitAny: listener parameter lists vary by event
type Listeners = Record<string, (...args: any[]) => void>;

/** A minimal typed event emitter (no Node `events` import, so it runs in browsers and React Native). */
export class Emitter<L extends Listeners> {
  private readonly listeners = new Map<keyof L, Set<L[keyof L]>>();

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof L>(name: K, listener: L[K]): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener);
    return () => this.off(name, listener);
  }

  once<K extends keyof L>(name: K, listener: L[K]): () => void {
    const wrapped = ((...args: Parameters<L[K]>) => {
      off();
      listener(...args);
    }) as L[K];
    const off = this.on(name, wrapped);
    return off;
  }

  off<K extends keyof L>(name: K, listener: L[K]): void {
    this.listeners.get(name)?.delete(listener);
  }

  emit<K extends keyof L>(name: K, ...args: Parameters<L[K]>): void {
    for (const listener of [...(this.listeners.get(name) ?? [])]) {
      try {
        listener(...args);
      } catch (error) {
        // A failing listener must not break the SDK or the other listeners.
        console.error('parley: an event listener failed', error);
      }
    }
  }
}
