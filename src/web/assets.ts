import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PROJECT_ROOT } from '../shared/paths.js';
import { forAnyone } from './page-kit.js';
import { STYLESHEET } from './styles.js';

/** The pages' static files: ECharts, the dashboard's script and the stylesheet, read once and kept. */
export function assetRoutes(web: FastifyInstance): void {
  const assets = new Map<string, Promise<Buffer>>();
  const asset = (file: string) => {
    let content = assets.get(file);
    if (!content) {
      content = readFile(file);
      // A failed read is not cached: the next request tries again.
      content.catch(() => assets.delete(file));
      assets.set(file, content);
    }
    return content;
  };
  const echartsFile = createRequire(import.meta.url).resolve('echarts/dist/echarts.min.js');
  // Plain browser JavaScript, served from the source tree (tsc does not copy it to dist/).
  const dashboardFile = path.join(PROJECT_ROOT, 'src', 'web', 'assets', 'dashboard.js');
  const serveAsset = (file: string) => async (_request: FastifyRequest, reply: FastifyReply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').send(await asset(file));

  web.get('/assets/echarts.min.js', forAnyone, serveAsset(echartsFile));
  web.get('/assets/dashboard.js', forAnyone, serveAsset(dashboardFile));
  web.get('/assets/app.css', forAnyone, async (_request, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(STYLESHEET));
}
