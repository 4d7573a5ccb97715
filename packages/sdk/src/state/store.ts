import type { Action } from './actions.js';
import { reduce } from './reducer.js';
import { initialState, type ParleyState } from './types.js';

export type Listener = (state: ParleyState, previous: ParleyState) => void;

/**
 * Holds the state and tells subscribers when it changes. Framework-free: React, Vue or Svelte
 * bindings subscribe here (`useSyncExternalStore(store.subscribe, store.getState)` works as is).
 */
export class Store {
  private state: ParleyState;
  private readonly listeners = new Set<Listener>();

  constructor(state: ParleyState = initialState()) {
    this.state = state;
  }

  getState = (): ParleyState => this.state;

  /** Runs the reducer; listeners hear about it only when the state actually changed. */
  dispatch(action: Action): void {
    const previous = this.state;
    const next = reduce(previous, action);
    if (next === previous) return;
    this.state = next;
    for (const listener of [...this.listeners]) listener(next, previous);
  }

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /**
   * Calls `onChange` with the selected value whenever it changes (by `equals`, default ===),
   * and once now unless `fireImmediately` is false. Returns the unsubscribe function.
   */
  select<T>(
    selector: (state: ParleyState) => T,
    onChange: (value: T, previous: T | undefined) => void,
    options: { equals?: (a: T, b: T) => boolean; fireImmediately?: boolean } = {},
  ): () => void {
    const equals = options.equals ?? Object.is;
    let current = selector(this.state);
    if (options.fireImmediately !== false) onChange(current, undefined);
    return this.subscribe((state) => {
      const value = selector(state);
      if (equals(value, current)) return;
      const previous = current;
      current = value;
      onChange(value, previous);
    });
  }
}
