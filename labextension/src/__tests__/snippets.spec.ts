import {
  bodyError,
  compact,
  curlSnippet,
  exampleBody,
  predictPath,
  proxyPath,
  pythonLiteral,
  pythonSnippet,
  servedModelName
} from '../snippets';

const URL_ = 'http://127.0.0.1:8123/v1/models/churn-2:predict';

describe('endpoint URLs', () => {
  it('reads the predict path and the served model name', () => {
    expect(predictPath(URL_)).toBe('/v1/models/churn-2:predict');
    expect(servedModelName(URL_)).toBe('churn-2');
    expect(servedModelName('http://host/other')).toBeNull();
  });

  it("goes through Jupyter's proxy relative to the base URL", () => {
    expect(proxyPath('uuid-1', URL_)).toBe('merlin/serve/endpoints/uuid-1/v1/models/churn-2:predict');
  });
});

describe('example bodies from the V2 metadata', () => {
  it('builds one row of named columns', () => {
    const body = exampleBody({ inputs: [{ name: 'age', datatype: 'INT64', shape: [-1] }, { name: 'city', datatype: 'BYTES', shape: [-1] }] });
    expect(body).toEqual({ instances: [{ age: 1, city: 'text' }] });
  });

  it('builds a tensor row for an unnamed tensor input', () => {
    expect(exampleBody({ inputs: [{ name: 'input-0', datatype: 'FP64', shape: [-1, 3] }] })).toEqual({ instances: [[0.5, 0.5, 0.5]] });
  });

  it('falls back to a generic row without a signature', () => {
    expect(exampleBody(null)).toEqual({ instances: [[0.5, 0.5, 0.5, 0.5]] });
  });
});

describe('copyable snippets', () => {
  const body = '{\n  "instances": [[1, true, null]],\n  "note": "it\'s"\n}';

  it('quotes the curl body for the shell, on one line', () => {
    const curl = curlSnippet(URL_, body);
    expect(curl).toContain(`curl -sS -X POST '${URL_}'`);
    expect(curl).toContain(`-d '{"instances":[[1,true,null]],"note":"it'\\''s"}'`);
  });

  it('spells JSON the Python way', () => {
    expect(pythonLiteral(body)).toBe('{"instances": [[1, True, None]], "note": "it\'s"}');
    const python = pythonSnippet(URL_, body);
    expect(python).toContain(`httpx.post("${URL_}", json={"instances": [[1, True, None]]`);
    expect(python).toContain('print(response.json()["predictions"])');
  });

  it('leaves a body that is not JSON as typed and says why it cannot be sent', () => {
    expect(compact('  {oops  ')).toBe('{oops');
    expect(bodyError('{oops')).toMatch(/not JSON/);
    expect(bodyError('{"instances": []}')).toBeNull();
  });
});
