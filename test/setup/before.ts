import { prepareTemplate, startCluster } from './cluster.js';

await startCluster();
await prepareTemplate();
