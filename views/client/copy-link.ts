/**
 * "Copy link to this view": the page's URL, whose hash restores the view. The clipboard API is
 * only there on https and localhost, and the daemon is often reached over plain http: then the
 * link goes in a field beside the button, selected, for the user to copy.
 */
import { el } from './dom.js';

/** How long "Copied" shows before the button reads as before (ms). */
const CONFIRM_MS = 2000;

/** Shows the button (hidden for pages without JavaScript) and makes it copy location.href. */
export function setUpCopyLink(button: HTMLButtonElement | null): void {
  if (!button) return;
  button.hidden = false;
  const label = button.textContent || 'Copy link to this view';
  let timer = 0;
  const done = (text: string): void => {
    button.textContent = text;
    clearTimeout(timer);
    timer = window.setTimeout(() => (button.textContent = label), CONFIRM_MS);
  };
  button.addEventListener('click', async () => {
    const url = location.href;
    try {
      if (!navigator.clipboard) throw new Error('no clipboard API');
      await navigator.clipboard.writeText(url);
      done('Copied');
    } catch {
      const shown = document.getElementById('copy-link-url');
      const field = shown instanceof HTMLInputElement ? shown : el('input', { id: 'copy-link-url', type: 'text', readonly: '', 'aria-label': 'Link to this view' });
      if (field !== shown) button.after(field);
      field.value = url;
      field.select();
      let copied = false;
      try {
        copied = document.execCommand('copy');
      } catch {
        copied = false;
      }
      done(copied ? 'Copied' : 'Press Ctrl+C to copy');
    }
  });
}
