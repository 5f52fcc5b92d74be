import path from 'node:path';
import t from 'tap';
import { ESLint } from 'eslint';
import { PROJECT_ROOT } from '../../src/shared/paths.js';

// Issue 12: the import direction of src/ is enforced by `npm run lint` (eslint/boundaries.js). These lint
// snippets as if they were files of src/, with the project's own configuration.
const eslint = new ESLint({ cwd: PROJECT_ROOT });

async function problems(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(PROJECT_ROOT, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'boundaries/imports').map((m) => m.message);
}

t.test('backwards imports fail', async (t) => {
  t.match(await problems('src/ledger/x.ts', "import { admit } from '../ingest/admission.js';\nexport const a = admit;\n"), [/src\/ledger\/ may not import src\/ingest\//]);
  t.match(await problems('src/allocate/x.ts', "import { insertRecords } from '../ledger/repository.js';\nexport const a = insertRecords;\n"), [/may not import src\/ledger\//]);
  t.match(await problems('src/billing/x.ts', "export { createIngest } from '../ingest/ingest-service.js';\n"), [/src\/billing\/ may not import src\/ingest\//]);
  t.match(await problems('src/merchants/x.ts', "import { createInventory } from '../sims/inventory.js';\nexport const a = createInventory;\n"), [/src\/merchants\/ may not import src\/sims\//]);
  t.match(await problems('src/ledger/routes.ts', "import { webRoutes } from '../web/routes.js';\nexport const a = webRoutes;\n"), [/may not import src\/web/]);
  t.match(await problems('src/catalog/x.ts', "import { startService } from '../service.js';\nexport const a = startService;\n"), [/composition root/]);
});

t.test('production code does not import simulators, tests or benches; the composition root may choose simulators', async (t) => {
  t.match(await problems('src/sims/x.ts', "export const load = () => import('../../simulators/realname/simulator.js');\n"), [/only the composition root/]);
  t.match(await problems('src/ledger/x.ts', "import { x } from '../../test/helpers/database.js';\nexport const a = x;\n"), [/imports nothing outside src/]);
  t.same(await problems('src/providers-example.ts', "export const load = () => import('../simulators/realname/simulator.js');\n"), []);
});

t.test('pure cores import no I/O at run time; type-only imports are fine', async (t) => {
  t.match(await problems('src/allocate/x.ts', "import pg from 'pg';\nexport const a = pg;\n"), [/pure core: it may not import pg/]);
  t.match(await problems('src/ingest/admission.ts', "import { readFile } from 'node:fs/promises';\nexport const a = readFile;\n"), [/pure core/]);
  t.match(await problems('src/ingest/planning.ts', "import { lockVehicles } from '../vehicles/fleet-repository.js';\nexport const a = lockVehicles;\n"), [/pure core: it may not import src\/vehicles\/fleet-repository.ts/]);
  t.same(await problems('src/ingest/planning.ts', "import type { VehicleForIngest } from '../vehicles/fleet-repository.js';\nexport type A = VehicleForIngest;\n"), []);
});

t.test('forward imports, shared, and other folders\' reply schemas at the HTTP edge pass', async (t) => {
  t.same(await problems('src/ingest/x.ts', "import { insertRecords } from '../ledger/repository.js';\nimport { monthOf } from '../shared/time.js';\nexport const a = [insertRecords, monthOf];\n"), []);
  t.same(await problems('src/vehicles/schemas.ts', "import { ControlSchema } from '../controls/schemas.js';\nexport const a = ControlSchema;\n"), []);
  t.match(await problems('src/vehicles/x.ts', "import { ControlSchema } from '../controls/schemas.js';\nexport const a = ControlSchema;\n"), [/src\/vehicles\/ may not import src\/controls\//]);
  t.same(await problems('src/web/x.ts', "import { createIngest } from '../ingest/ingest-service.js';\nexport const a = createIngest;\n"), []);
});
