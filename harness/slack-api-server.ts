/**
 * A local stand-in for the parts of Slack tail2 talks to — the Web API methods `chat.postMessage`,
 * `files.getUploadURLExternal`, `files.completeUploadExternal`, the upload URL they hand out, and
 * an incoming webhook — so the senders run against a real HTTP server with the real client. Tests
 * cannot reach Slack; this is the only mock the notifier tests use.
 *
 * It answers the way Slack does (HTTP 200 with `{ok:false,error}` for API errors, plain-text words
 * for webhook errors) and checks what @slack/web-api 8 actually sends: form-urlencoded bodies
 * with `blocks` and `files` JSON-encoded inside fields, the bearer token in a header, and the file
 * bytes as a multipart part named `body`.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedSlackFile {
  id: string;
  filename: string;
  title?: string;
  bytes: Buffer;
}

export interface ReceivedSlackMessage {
  via: 'files.completeUploadExternal' | 'chat.postMessage' | 'webhook';
  channel?: string;
  text?: string;
  blocks?: unknown[];
  files: ReceivedSlackFile[];
  atMs: number;
}

export interface SlackApiCall {
  method: string;
  status: number;
  atMs: number;
  error?: string;
}

/** A status (and Retry-After) to answer, a platform error, or a delay before the normal answer (a slow Slack). */
export type ScriptedResponse = { status: number; retryAfterS?: number; body?: string } | { error: string } | { delayMs: number };

export interface SlackApiServer {
  /** Pass as the client's slackApiUrl: `http://127.0.0.1:PORT/api/` */
  apiUrl: string;
  /** An incoming-webhook URL on this server. */
  webhookUrl: string;
  messages: ReceivedSlackMessage[];
  calls: SlackApiCall[];
  /** The next responses of `method` ('chat.postMessage', 'files.getUploadURLExternal', 'files.completeUploadExternal', 'upload', 'webhook', or '*' for any) replace the normal answer, in order. */
  script(method: string, responses: ScriptedResponse[]): void;
  waitForMessages(count: number, timeoutMs?: number): Promise<ReceivedSlackMessage[]>;
  close(): Promise<void>;
}

/** What a handler answers; `error` is recorded in `calls`. */
interface Answer {
  status: number;
  body: string;
  contentType: string;
  headers?: Record<string, string>;
  error?: string;
}

interface PendingUpload {
  filename: string;
  length: number;
  bytes?: Buffer;
}

type Fields = Record<string, unknown>;

const API_PREFIX = '/api/';
const UPLOAD_PREFIX = '/upload/';
const WEBHOOK_PREFIX = '/services/';

/** Starts the server on 127.0.0.1 on a free port. API methods accept only `token`. */
export async function startSlackApiServer(options: { token: string }): Promise<SlackApiServer> {
  const messages: ReceivedSlackMessage[] = [];
  const calls: SlackApiCall[] = [];
  const scripts = new Map<string, ScriptedResponse[]>();
  const uploads = new Map<string, PendingUpload>();
  const waiters = new Set<() => void>();
  const webhookPath = `${WEBHOOK_PREFIX}T0TAIL2/B0TAIL2/${randomBytes(12).toString('hex')}`;
  let origin = '';
  let nextFile = 1;
  let nextTs = 1;

  function record(message: Omit<ReceivedSlackMessage, 'atMs'>): void {
    messages.push({ ...message, atMs: Date.now() });
    for (const wake of [...waiters]) wake();
  }

  function takeScripted(method: string): ScriptedResponse | undefined {
    for (const key of [method, '*']) {
      const queue = scripts.get(key);
      if (queue && queue.length > 0) return queue.shift();
    }
    return undefined;
  }

  function scriptedAnswer(method: string, scripted: Exclude<ScriptedResponse, { delayMs: number }>): Answer {
    if ('error' in scripted) return apiError(scripted.error);
    const headers: Record<string, string> = {};
    if (scripted.retryAfterS !== undefined) headers['retry-after'] = String(scripted.retryAfterS);
    // Slack's Web API says `ratelimited` in the body of a 429; other statuses come from its edge.
    const isApi = method !== 'upload' && method !== 'webhook';
    const body = scripted.body ?? (scripted.status === 429 && isApi ? JSON.stringify({ ok: false, error: 'ratelimited' }) : `status ${scripted.status}`);
    const json = body.startsWith('{');
    return {
      status: scripted.status,
      body,
      contentType: json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8',
      headers,
      error: scripted.status === 200 ? undefined : `http_${scripted.status}`,
    };
  }

  function apiMethod(method: string, fields: Fields, authorization: string | undefined): Answer {
    const bearer = authorization?.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : undefined;
    if ((bearer ?? fields.token) !== options.token) return apiError(bearer || fields.token ? 'invalid_auth' : 'not_authed');
    switch (method) {
      case 'files.getUploadURLExternal': {
        const filename = typeof fields.filename === 'string' ? fields.filename : '';
        const length = Number(fields.length);
        if (filename === '' || !Number.isInteger(length) || length <= 0) return apiError('invalid_arguments');
        const fileId = `F${String(nextFile++).padStart(10, '0')}`;
        uploads.set(fileId, { filename, length });
        return apiOk({ upload_url: `${origin}${UPLOAD_PREFIX}${fileId}`, file_id: fileId });
      }
      case 'files.completeUploadExternal': {
        const files = jsonField(fields.files);
        const blocks = jsonField(fields.blocks);
        if (!Array.isArray(files) || files.length === 0) return apiError('invalid_arguments');
        if (blocks !== undefined && !Array.isArray(blocks)) return apiError('invalid_blocks_format');
        const received: ReceivedSlackFile[] = [];
        for (const entry of files as unknown[]) {
          const { id, title } = (entry ?? {}) as { id?: unknown; title?: unknown };
          const upload = typeof id === 'string' ? uploads.get(id) : undefined;
          if (typeof id !== 'string' || !upload?.bytes) return apiError('file_not_found');
          received.push({ id, filename: upload.filename, title: typeof title === 'string' ? title : undefined, bytes: upload.bytes });
        }
        record({
          via: 'files.completeUploadExternal',
          channel: optionalString(fields.channel_id),
          text: optionalString(fields.initial_comment),
          blocks: blocks as unknown[] | undefined,
          files: received,
        });
        return apiOk({ files: received.map((f) => ({ id: f.id, name: f.filename, title: f.title ?? f.filename })) });
      }
      case 'chat.postMessage': {
        const channel = optionalString(fields.channel);
        const text = optionalString(fields.text);
        const blocks = jsonField(fields.blocks);
        if (!channel) return apiError('channel_not_found');
        if (blocks !== undefined && !Array.isArray(blocks)) return apiError('invalid_blocks_format');
        if (!text && !blocks) return apiError('no_text');
        const ts = `${Math.floor(Date.now() / 1000)}.${String(nextTs++).padStart(6, '0')}`;
        record({ via: 'chat.postMessage', channel, text, blocks: blocks as unknown[] | undefined, files: [] });
        return apiOk({ channel, ts, message: { text, blocks } });
      }
      default:
        return apiError('unknown_method');
    }
  }

  async function upload(fileId: string, request: IncomingMessage, raw: Buffer): Promise<Answer> {
    const pending = uploads.get(fileId);
    if (!pending) return plainAnswer(404, 'no such upload', 'unknown_upload');
    // The client sends the bytes as a multipart part (`body`, filename `Untitled`); Slack also
    // accepts a raw body, so both are taken.
    const type = request.headers['content-type'] ?? '';
    let bytes = raw;
    if (type.startsWith('multipart/form-data')) {
      const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': type } }).formData();
      const part = [...form.values()].find((v) => typeof v !== 'string');
      if (part === undefined || typeof part === 'string') return plainAnswer(400, 'no file part', 'no_file_part');
      bytes = Buffer.from(await part.arrayBuffer());
    }
    if (bytes.length !== pending.length) return plainAnswer(400, `length ${bytes.length} differs from the announced ${pending.length}`, 'length_mismatch');
    pending.bytes = bytes;
    return plainAnswer(200, `OK - ${bytes.length}`);
  }

  function webhook(raw: Buffer): Answer {
    let payload: unknown;
    try {
      payload = JSON.parse(raw.toString('utf8'));
    } catch {
      return plainAnswer(400, 'invalid_payload', 'invalid_payload');
    }
    const { text: message, blocks } = (payload ?? {}) as { text?: unknown; blocks?: unknown };
    if (blocks !== undefined && !Array.isArray(blocks)) return plainAnswer(400, 'invalid_blocks', 'invalid_blocks');
    if (typeof message !== 'string' && blocks === undefined) return plainAnswer(400, 'no_text', 'no_text');
    record({ via: 'webhook', text: optionalString(message), blocks: blocks as unknown[] | undefined, files: [] });
    return plainAnswer(200, 'ok');
  }

  async function handle(request: IncomingMessage, raw: Buffer): Promise<{ method: string; answer: Answer }> {
    const path = new URL(request.url ?? '/', origin).pathname;
    if (request.method !== 'POST') return { method: path, answer: plainAnswer(405, 'method not allowed') };
    let method: string;
    if (path.startsWith(API_PREFIX)) method = path.slice(API_PREFIX.length);
    else if (path.startsWith(UPLOAD_PREFIX)) method = 'upload';
    else if (path.startsWith(WEBHOOK_PREFIX)) method = 'webhook';
    else return { method: path, answer: plainAnswer(404, 'not found') };

    const scripted = takeScripted(method);
    if (scripted && 'delayMs' in scripted) await new Promise((resolve) => setTimeout(resolve, scripted.delayMs));
    else if (scripted) return { method, answer: scriptedAnswer(method, scripted) };
    if (method === 'upload') return { method, answer: await upload(path.slice(UPLOAD_PREFIX.length), request, raw) };
    if (method === 'webhook') return { method, answer: path === webhookPath ? webhook(raw) : plainAnswer(404, 'no_service', 'no_service') };
    return { method, answer: apiMethod(method, await parseFields(request, raw), header(request, 'authorization')) };
  }

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void handle(request, Buffer.concat(chunks))
        .catch((error: unknown) => ({ method: request.url ?? '?', answer: plainAnswer(500, `slack-api-server: ${String(error)}`, 'server_error') }))
        .then(({ method, answer }) => {
          calls.push({ method, status: answer.status, atMs: Date.now(), ...(answer.error ? { error: answer.error } : {}) });
          response.writeHead(answer.status, { 'content-type': answer.contentType, ...answer.headers });
          response.end(answer.body);
        });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    apiUrl: `${origin}${API_PREFIX}`,
    webhookUrl: `${origin}${webhookPath}`,
    messages,
    calls,
    script(method, responses) {
      scripts.set(method, [...(scripts.get(method) ?? []), ...responses]);
    },
    waitForMessages(count, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          if (messages.length < count) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(messages.slice(0, count));
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`slack-api-server: ${messages.length} of ${count} messages arrived within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close() {
      return new Promise((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // fetch keeps connections alive; close() alone would wait for them to time out.
        server.closeAllConnections();
      });
    },
  };
}

/** API fields from a form-urlencoded, JSON or multipart body (the client picks by content). */
async function parseFields(request: IncomingMessage, raw: Buffer): Promise<Fields> {
  const type = header(request, 'content-type') ?? '';
  if (type.startsWith('application/json')) {
    const parsed: unknown = JSON.parse(raw.toString('utf8') || '{}');
    return parsed !== null && typeof parsed === 'object' ? (parsed as Fields) : {};
  }
  if (type.startsWith('multipart/form-data')) {
    const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': type } }).formData();
    const fields: Fields = {};
    for (const [key, value] of form) fields[key] = value;
    return fields;
  }
  return Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
}

/** Form bodies carry arrays as JSON text inside a field; JSON bodies carry them as they are. */
function jsonField(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function apiOk(result: Fields): Answer {
  return { status: 200, body: JSON.stringify({ ok: true, ...result }), contentType: 'application/json; charset=utf-8' };
}

function apiError(error: string): Answer {
  return { status: 200, body: JSON.stringify({ ok: false, error }), contentType: 'application/json; charset=utf-8', error };
}

function plainAnswer(status: number, body: string, error?: string): Answer {
  return { status, body, contentType: 'text/plain; charset=utf-8', error };
}
