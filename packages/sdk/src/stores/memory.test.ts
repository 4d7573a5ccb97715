import { persistentStoreContract } from '../test-support/store.contract.js';
import { MemoryStore } from './memory.js';

persistentStoreContract('MemoryStore', async () => new MemoryStore());
