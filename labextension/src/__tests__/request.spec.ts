import { describeError, errorFromBody, MerlinError } from '../request';

describe('API errors in words', () => {
  it("shows the API's own sentence and field", () => {
    const error = errorFromBody(409, 'Conflict', '{"error": "A project named x exists: pick another name.", "field": "name"}');
    expect(error).toBeInstanceOf(MerlinError);
    expect(error.message).toBe('A project named x exists: pick another name.');
    expect(error.status).toBe(409);
    expect(error.field).toBe('name');
  });

  it("uses tornado's message when there is no error field", () => {
    expect(errorFromBody(404, 'Not Found', '{"message": "Not found"}').message).toBe('Not found');
  });

  it('says what to do about an expired session', () => {
    expect(errorFromBody(403, 'Forbidden', '<html>').message).toMatch(/log in again/);
  });

  it('says the server extension is missing when the API itself is not found', () => {
    expect(errorFromBody(404, 'Not Found', '<html>404</html>').message).toMatch(/merlin_jupyter_server enabled/);
    // A 404 from the API names what is missing in its own words.
    expect(errorFromBody(404, 'Not Found', '{"error": "Project 7 does not exist."}').message).toBe('Project 7 does not exist.');
  });

  it('summarises an HTML answer by its status instead of showing it raw', () => {
    expect(errorFromBody(502, 'Bad Gateway', '<html><body>proxy</body></html>').message).toBe(
      'The server answered 502 Bad Gateway without saying why.'
    );
  });

  it('never says [object Object]', () => {
    expect(describeError(new Error('boom'))).toBe('boom');
    expect(describeError('plain')).toBe('plain');
    expect(describeError({ any: 1 })).toMatch(/Something went wrong/);
  });
});
