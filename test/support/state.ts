/** Contract problems seen in the current test; setup.ts fails the test when any are left. */
export const contractProblems: string[] = [];
export const logCapture: string[] = [];

export function recordContractProblem(problem: string): void {
  contractProblems.push(problem);
}
