import { afterEach, expect } from 'vitest';
import { contractProblems } from './state.js';

// Every response an integration test receives must match openapi.yaml for its operation and
// status. A mismatch fails the test that caused it.
afterEach(() => {
  const problems = contractProblems.splice(0);
  expect(problems, 'responses that do not match openapi.yaml').toEqual([]);
});
