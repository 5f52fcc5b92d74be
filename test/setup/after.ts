import { stopCluster } from './cluster.js';

await stopCluster();
