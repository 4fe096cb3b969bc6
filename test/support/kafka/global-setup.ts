/**
 * vitest globalSetup: one shared Kafka broker for the whole run. Tests read its bootstrap
 * servers with `inject('kafkaBrokers')` and must use their own topics and group ids
 * (see uniqueName in ./client.ts), since test files run in parallel against it.
 * A test that needs to stop or restart a broker starts its own with startKafkaBroker().
 */
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startKafkaBroker, type KafkaBrokerHandle } from './broker.js';
import { waitForGroupCoordinator } from './client.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string[];
  }
}

let broker: KafkaBrokerHandle | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  broker = await startKafkaBroker();
  await waitForGroupCoordinator(broker.brokers);
  project.provide('kafkaBrokers', broker.brokers);
  return async () => {
    await broker?.stop();
    broker = undefined;
  };
}
