import type { Express, Request, Response } from 'express';
import { INCIDENT_ID_PATTERN } from '../capture/incident-id.js';
import type { DaemonApi } from './daemon-api.js';
import { incidentPage } from './incident-page.js';
import { listPage } from './list-page.js';
import type { PageModel, PageRenderer } from './page-renderer.js';
import { rulesPage } from './rules-page.js';
import { statusPage } from './status-page.js';

/** The incident page's own stylesheet and script, written by the client side (the DOM contract). */
const INCIDENT_ASSETS = { styles: ['/static/incident.css'], scripts: ['/static/incident.js'] };

/** The HTML pages (docs/api.md): `/`, `/incidents/:id`, `/rules`, `/status`. */
export function addPageRoutes(app: Express, api: DaemonApi, pages: PageRenderer, clock: () => number = Date.now): void {
  app.get('/', (req, res) => {
    const { model, status } = listPage(api, req, clock());
    pages.render(res, 'list', model, status);
  });

  app.get('/incidents/:id', async (req, res) => {
    const id = req.params.id;
    // `?profile=page_faults` shows another kind of profile the incident holds (docs/profiles.md).
    const profile = typeof req.query.profile === 'string' ? req.query.profile : undefined;
    const model = INCIDENT_ID_PATTERN.test(id) ? await incidentPage(api, id, baseUrl(api, req), clock(), profile) : undefined;
    if (!model) {
      renderNotFound(pages, res, 'No such incident', 'There is no incident with this id. Retention may have deleted it (store.max_incidents, max_age, max_disk in tail2.yaml).');
      return;
    }
    pages.render(res, 'incident', model, 200, INCIDENT_ASSETS);
  });

  app.get('/rules', (_req, res) => {
    pages.render(res, 'rules', rulesPage(api, clock()));
  });

  app.get('/status', (_req, res) => {
    pages.render(res, 'status', statusPage(api.status(), clock()));
  });
}

/** views/error.ejs: 404, 500 and other failures, in words and without internals. */
export interface ErrorPageModel extends PageModel {
  heading: string;
  message: string;
  status: number;
}

/** The 404 page for paths no page answers. */
export function renderNotFound(pages: PageRenderer, res: Response, heading = 'Page not found', message = 'Nothing lives at this address.'): void {
  pages.render<ErrorPageModel>(res, 'error', { title: heading, heading, message, status: 404 }, 404);
}

/** A 4xx page other than 404 (a request that could not be read). */
export function renderClientError(pages: PageRenderer, res: Response, status: number): void {
  pages.render<ErrorPageModel>(res, 'error', { title: 'Bad request', heading: 'Bad request', message: 'This request could not be read.', status }, status);
}

/** The 500 page: says that something failed, never how (no stack traces to strangers). */
export function renderServerError(pages: PageRenderer, res: Response): void {
  pages.render<ErrorPageModel>(res, 'error', { title: 'Something went wrong', heading: 'Something went wrong', message: 'tail2 could not show this page. The daemon’s log has the details.', status: 500 }, 500);
}

/** Where the commands on the incident page reach this daemon: `web.public_url`, else this request's origin. */
function baseUrl(api: DaemonApi, req: Request): string {
  return (api.publicUrl ?? `${req.protocol}://${req.get('host') ?? 'localhost'}`).replace(/\/+$/, '');
}
