// Worker-thread entry: loads tsx so the TypeScript module named in workerData.entry can run.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
