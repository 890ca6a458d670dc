import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** Where the control plane's REST API lives, relative to Jupyter's base URL. */
export const API_PATH = 'merlin/api/v1';

/**
 * A failed call, said in words. `message` is the API's own `{"error": ...}` text when it sent
 * one (it says what went wrong and what to do); `field` names the input it is about.
 */
export class MerlinError extends Error {
  constructor(
    message: string,
    readonly status: number = 0,
    readonly field: string | null = null
  ) {
    super(message);
    this.name = 'MerlinError';
  }
}

/** The sentence to show for any thrown value, never "[object Object]". */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return typeof error === 'string' ? error : 'Something went wrong (no details were given).';
}

/**
 * Turns a non-2xx answer into a MerlinError. The API answers `{"error", "field"}`; a proxy or a
 * crashed server may answer HTML, which is summarised by its status instead of shown raw.
 */
export function errorFromBody(status: number, statusText: string, text: string): MerlinError {
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown; field?: unknown };
    const said = typeof body.error === 'string' ? body.error : body.message;
    if (typeof said === 'string' && said) {
      const field = typeof body.field === 'string' ? body.field : null;
      return new MerlinError(said, status, field);
    }
  } catch {
    // not JSON: fall through to the status line
  }
  if (status === 401 || status === 403) {
    return new MerlinError(
      `The server refused the request (${status}): your Jupyter session may have expired; reload the page and log in again.`,
      status
    );
  }
  if (status === 404) {
    return new MerlinError(
      'The Merlin API is not in this Jupyter server (404): check that `jupyter server ' +
        'extension list` shows merlin_jupyter_server enabled, then restart JupyterLab.',
      status
    );
  }
  const reason = statusText ? ` ${statusText}` : '';
  return new MerlinError(`The server answered ${status}${reason} without saying why.`, status);
}

/**
 * One HTTP call through Jupyter's ServerConnection, which adds the token or cookie and the
 * XSRF header; `path` is relative to the Jupyter base URL. Returns the raw Response.
 */
export async function fetchServer(
  path: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<Response> {
  const url = URLExt.join(settings.baseUrl, path);
  try {
    return await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new MerlinError(
      `Cannot reach the Jupyter server (${describeError(error)}): check that it is still running.`
    );
  }
}

/** A call to the REST API that answers JSON; throws MerlinError with the API's words. */
export async function requestAPI<T>(
  endpoint: string,
  init: RequestInit = {},
  settings?: ServerConnection.ISettings
): Promise<T> {
  const headers = new Headers(init.headers);
  if (init.body !== undefined && !headers.has('Content-Type')) {
    headers.set('Content-Type', 'application/json');
  }
  const response = await fetchServer(
    URLExt.join(API_PATH, endpoint),
    { ...init, headers },
    settings
  );
  const text = await response.text();
  if (!response.ok) {
    throw errorFromBody(response.status, response.statusText, text);
  }
  if (!text) {
    return undefined as T;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new MerlinError(`The server answered ${endpoint} with something that is not JSON.`);
  }
}
