/**
 * What the endpoint details show people to copy: the URLs and request snippets, and a first
 * request body built from the model's own signature (the server's V2 metadata).
 */

/** The predict path of an endpoint URL, e.g. `/v1/models/churn-1:predict`. */
export function predictPath(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url.replace(/^[a-z]+:\/\/[^/]+/, '');
  }
}

/** The model server's name of the model (`{model}-{version}`), read from the predict URL. */
export function servedModelName(url: string): string | null {
  const match = /\/v1\/models\/([^/:]+):predict$/.exec(predictPath(url));
  return match ? match[1] : null;
}

/**
 * The same endpoint through Jupyter's authenticated proxy, relative to the base URL: what a
 * browser (or a remote hub) can reach when 127.0.0.1 on the server is not its own machine.
 */
export function proxyPath(endpointId: string, url: string): string {
  return `merlin/serve/endpoints/${endpointId}${predictPath(url)}`;
}

interface IV2Tensor {
  name: string;
  datatype: string;
  shape: number[];
}

export interface IV2Metadata {
  inputs?: IV2Tensor[];
}

function sample(datatype: string): number | string | boolean {
  if (datatype === 'BYTES') {
    return 'text';
  }
  if (datatype === 'BOOL') {
    return false;
  }
  return datatype.startsWith('FP') ? 0.5 : 1;
}

/** One row of zeros-ish values shaped like `shape` without its batch dimension. */
function tensorRow(datatype: string, shape: number[]): unknown {
  if (!shape.length) {
    return sample(datatype);
  }
  const [size, ...rest] = shape;
  return Array.from({ length: size > 0 ? size : 1 }, () => tensorRow(datatype, rest));
}

/**
 * A request body with one instance the model accepts: a row of columns when the signature
 * names columns, else a tensor of its shape; a generic example when there is no signature.
 */
export function exampleBody(metadata: IV2Metadata | null): { instances: unknown[] } {
  const inputs = metadata?.inputs ?? [];
  if (inputs.length === 1 && inputs[0].name === 'input-0') {
    const shape = inputs[0].shape.slice(1);
    return { instances: [tensorRow(inputs[0].datatype, shape)] };
  }
  if (inputs.length) {
    const row: Record<string, unknown> = {};
    inputs.forEach(i => (row[i.name] = sample(i.datatype)));
    return { instances: [row] };
  }
  return { instances: [[0.5, 0.5, 0.5, 0.5]] };
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export function curlSnippet(url: string, body: string): string {
  return [
    `curl -sS -X POST ${shellQuote(url)} \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  -d ${shellQuote(compact(body))}`
  ].join('\n');
}

export function pythonSnippet(url: string, body: string): string {
  return [
    'import httpx',
    '',
    `response = httpx.post(${JSON.stringify(url)}, json=${pythonLiteral(body)})`,
    'response.raise_for_status()',
    'print(response.json()["predictions"])'
  ].join('\n');
}

/** The body on one line when it is JSON, else as typed. */
export function compact(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body));
  } catch {
    return body.trim();
  }
}

/** JSON text as a Python literal (true/false/null spelled the Python way). */
export function pythonLiteral(body: string): string {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return body.trim();
  }
  return toPython(value);
}

function toPython(value: unknown): string {
  if (value === null || value === undefined) {
    return 'None';
  }
  if (typeof value === 'boolean') {
    return value ? 'True' : 'False';
  }
  if (Array.isArray(value)) {
    return `[${value.map(toPython).join(', ')}]`;
  }
  if (typeof value === 'object') {
    const items = Object.entries(value as Record<string, unknown>).map(
      ([k, v]) => `${JSON.stringify(k)}: ${toPython(v)}`
    );
    return `{${items.join(', ')}}`;
  }
  return JSON.stringify(value);
}

/** Whether the typed body is JSON; the "try it" box says so before sending. */
export function bodyError(body: string): string | null {
  try {
    JSON.parse(body);
    return null;
  } catch (error) {
    return `The request body is not JSON: ${(error as Error).message}`;
  }
}
