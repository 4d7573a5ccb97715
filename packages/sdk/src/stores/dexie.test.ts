import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { persistentStoreContract } from '../test-support/store.contract.js';
import { DexieStore } from './dexie.js';

let n = 0;
// A fresh IndexedDB per store: the browser implementation, faked in memory for Node.
persistentStoreContract(
  'DexieStore (fake-indexeddb)',
  async () => new DexieStore({ name: `parley-test-${++n}`, indexedDB: new IDBFactory(), IDBKeyRange }),
);
