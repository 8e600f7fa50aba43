import type { Response } from 'express';

/** What the layout (header, navigation, footer) of every page shows. */
export interface LayoutModel {
  host: string;
  version: string;
  /** The navigation entry to mark as current. */
  section: 'incidents' | 'rules' | 'status' | null;
  title: string;
  /** Extra stylesheets and deferred scripts under /static/ for this page. */
  styles: string[];
  scripts: string[];
}

/** Every page model has a title; the rest is the page's own. */
export interface PageModel {
  title: string;
}

const SECTIONS: Record<string, LayoutModel['section']> = { list: 'incidents', incident: 'incidents', rules: 'rules', status: 'status' };

/**
 * Renders a view of `views/` inside the layout. Templates see `page` (the view model, computed in
 * TypeScript so they stay simple) and `layout`; they escape every value with `<%= %>`.
 */
export class PageRenderer {
  constructor(
    private readonly site: { host: string; version: string },
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  render<Model extends PageModel>(res: Response, view: string, page: Model, status = 200, assets: { styles?: string[]; scripts?: string[] } = {}): void {
    const layout: LayoutModel = {
      host: this.site.host,
      version: this.site.version,
      section: SECTIONS[view] ?? null,
      title: page.title,
      styles: assets.styles ?? [],
      scripts: assets.scripts ?? [],
    };
    // Pages show live state (notification outcomes, rule states): revalidate on every visit.
    res.status(status).set('Cache-Control', 'private, no-cache');
    res.render(view, { page, layout }, (error: Error | null, html: string) => {
      if (!error) {
        res.send(html);
        return;
      }
      // Answered here rather than by express's final handler, which would print the stack.
      this.onError(error);
      if (!res.headersSent) res.status(500).type('text/plain').send('tail2 could not render this page; the daemon log says why.\n');
    });
  }
}
