import { stopCluster } from './cluster.js';

// tap's `after` script, a child of the tap runner like every test file: stops the run's cluster if a test
// file started one (test/setup/cluster.ts); a run of unit tests alone started none.
await stopCluster(String(process.ppid));
