import { brokerContract } from './broker.contract.js';
import { MemoryBroker } from './broker.memory.js';

// One process holds the only instance of its state, so the multi-node part of the contract does not apply.
brokerContract(
  'MemoryBroker',
  async (options) => new MemoryBroker({ presenceTtlSeconds: options?.presenceTtlSeconds ?? 60 }),
  {
    multiNode: false,
  },
);
